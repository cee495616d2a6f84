from django.apps import AppConfig


class WeComConfig(AppConfig):
    name = "siyu.channels.wecom"
    label = "wecom"
    verbose_name = "WeCom channel"

    def ready(self) -> None:
        from siyu.channels.ports import registry
        from siyu.kernel import encrypted

        from . import (
            permissions,  # noqa: F401  (declares the channel's operations)
            timeline_kinds,  # noqa: F401  (registers "wecom.contact_added" … on the CDP timeline)
        )
        from .adapter import adapter_factory
        from .models import Corp, ExternalContact

        # Secrets and the unionid are envelopes: `siyu keys rotate` must find every one of them.
        for field in ("secret", "agent_secret", "callback_token", "encoding_aes_key"):
            encrypted.register(Corp, field=field, context=f"wecom.corp.{field}", object_key="channels.wecom")
        encrypted.register(ExternalContact, field="unionid", context="wecom.contact.unionid",
                           object_key="channels.wecom")
        registry.register("wecom", adapter_factory, replace=True)
