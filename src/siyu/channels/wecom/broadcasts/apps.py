from django.apps import AppConfig


class WeComBroadcastsConfig(AppConfig):
    name = "siyu.channels.wecom.broadcasts"
    label = "wecom_broadcasts"
    verbose_name = "WeCom broadcasts"

    def ready(self) -> None:
        from . import (
            handlers,  # noqa: F401  (registers the plan / send / collect scheduled actions)
            permissions,  # noqa: F401  (declares channels.broadcast.*)
        )
