from django.apps import AppConfig


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


def _record_object_key(record) -> str:
    return record.object.key
