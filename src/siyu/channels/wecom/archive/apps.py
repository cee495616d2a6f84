from django.apps import AppConfig


class WeComArchiveConfig(AppConfig):
    name = "siyu.channels.wecom.archive"
    label = "wecom_archive"
    verbose_name = "WeCom conversation archive"

    def ready(self) -> None:
        from siyu.kernel import encrypted

        from . import (
            permissions,  # noqa: F401  (declares channels.archive.*)
            timeline_kinds,  # noqa: F401  (registers "wecom.chat_message" on the CDP timeline)
        )
        from .models import ArchiveConfig, ArchivedMessage

        # Envelopes `siyu keys rotate` must find: the archive secret, the RSA key and every message's content.
        for field in ("secret", "private_key"):
            encrypted.register(ArchiveConfig, field=field, context=f"wecom.archive.{field}",
                               object_key="channels.archive")
        encrypted.register(ArchivedMessage, field="content", context="wecom.archive.content",
                           object_key="channels.archive")
