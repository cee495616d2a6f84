from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "siyu.platform"
    label = "platform"
