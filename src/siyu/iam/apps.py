from django.apps import AppConfig


class IamConfig(AppConfig):
    name = "siyu.iam"
    label = "iam"
    verbose_name = "Identity and access"

    def ready(self) -> None:
        from siyu.kernel import encrypted

        from . import permissions  # noqa: F401  (declares iam's operations)
        from .models import Membership

        # Encrypted columns are registered so that `siyu keys rotate` finds them (kernel/encrypted.py).
        encrypted.register(Membership, field="mobile", index_field="mobile_index", context="iam.membership.mobile", kind="phone")
