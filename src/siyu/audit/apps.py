from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "siyu.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from siyu.kernel import auditing

        from . import permissions  # noqa: F401  (declares audit's operations)
        from .sink import append

        auditing.register_sink(append)
