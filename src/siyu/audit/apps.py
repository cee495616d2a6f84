from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "siyu.audit"
    label = "audit"
