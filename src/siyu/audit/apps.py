from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "siyu.audit"
    label = "audit"

    def ready(self) -> None:
        from siyu.kernel import auditing

        from .sink import append

        auditing.register_sink(append)
