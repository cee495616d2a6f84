from django.apps import AppConfig


class WeComBroadcastsConfig(AppConfig):
    name = "siyu.channels.wecom.broadcasts"
    label = "wecom_broadcasts"
    verbose_name = "WeCom broadcasts"
