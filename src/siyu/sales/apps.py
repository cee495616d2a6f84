from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "siyu.sales"
    label = "sales"
    verbose_name = "Sales"

    def ready(self) -> None:
        from . import permissions  # noqa: F401  (declares the sales operations)
        from .registration import register

        register()
        _("Sales")
