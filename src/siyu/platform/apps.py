from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PlatformConfig(AppConfig):
    name = "siyu.platform"
    label = "platform"
    verbose_name = "Low-code platform"

    def ready(self) -> None:
        from siyu.kernel import encrypted

        from . import (
            permissions,  # noqa: F401  (declares platform's operations)
            resolvers,
            selectors,
        )
        from .models import CustomRecord

        # Lookups to custom objects (and to standard objects registered with a model) resolve here; contexts
        # may register their own resolver per object key.
        resolvers.register_default_lookup_resolver(selectors.visible_record_ids)
        resolvers.register_object_checker(selectors.object_exists)
        # phone / email values of custom records are envelopes under "platform:<object key>:<field key>".
        encrypted.register_json(CustomRecord, column="data", object_key=_record_object_key,
                                context_fields=("object__key",))
        # Custom-field indexes are DDL made at run time, outside migrations: every migrate (each deploy) converges
        # them on the definitions, which also rebuilds indexes of an older shape.
        post_migrate.connect(_sync_indexes, sender=self, dispatch_uid="siyu.platform.sync_indexes")


def _record_object_key(record) -> str:
    return record.object.key


def _sync_indexes(using: str = "default", **kwargs) -> None:
    from django.db import connections

    from . import indexes
    from .models import FieldDefinition

    # a partial migrate (``migrate iam 0001`` on an empty database) may not have created the definitions yet
    if using == "default" and FieldDefinition._meta.db_table in connections[using].introspection.table_names():
        indexes.sync_indexes()
