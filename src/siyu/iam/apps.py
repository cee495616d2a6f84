from django.apps import AppConfig


class IamConfig(AppConfig):
    name = "siyu.iam"
    label = "iam"
    verbose_name = "Identity and access"

    def ready(self) -> None:
        from . import permissions  # noqa: F401  (declares iam's operations)
