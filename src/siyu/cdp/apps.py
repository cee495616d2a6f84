from django.apps import AppConfig


class CdpConfig(AppConfig):
    name = "siyu.cdp"
    label = "cdp"
    verbose_name = "Customer data platform"
