from django.apps import AppConfig


class OfficialAccountConfig(AppConfig):
    name = "siyu.channels.official_account"
    label = "official_account"
    verbose_name = "WeChat official account channel"

    def ready(self) -> None:
        from siyu.channels.ports import registry
        from siyu.kernel import encrypted

        from . import (
            permissions,  # noqa: F401  (declares the channel's operations)
            timeline_kinds,  # noqa: F401  (registers "official_account.subscribed" … on the CDP timeline)
        )
        from .adapter import adapter_factory
        from .models import Account, Follower

        # Secrets and the unionid are envelopes: `siyu keys rotate` must find every one of them.
        for field in ("secret", "callback_token", "encoding_aes_key"):
            encrypted.register(Account, field=field, context=f"official_account.account.{field}",
                               object_key="channels.official_account")  # fmt: skip
        encrypted.register(Follower, field="unionid", context="official_account.follower.unionid",
                           object_key="channels.official_account")  # fmt: skip
        registry.register("official_account", adapter_factory, replace=True)
