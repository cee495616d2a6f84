from django.apps import AppConfig


class KernelConfig(AppConfig):
    name = "siyu.kernel"
    label = "kernel"
    verbose_name = "Kernel"
