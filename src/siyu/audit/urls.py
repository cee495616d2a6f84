from django.urls import path

from . import pages

urlpatterns = [
    path("", pages.audit_log, name="audit_log"),
    path("<int:entry_id>/", pages.audit_entry, name="audit_entry"),
    path("verify/", pages.audit_verify, name="audit_verify"),
]
