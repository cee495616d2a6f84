from django.apps import AppConfig


class WeComArchiveConfig(AppConfig):
    name = "siyu.channels.wecom.archive"
    label = "wecom_archive"
    verbose_name = "WeCom conversation archive"
