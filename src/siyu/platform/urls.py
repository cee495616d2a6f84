"""platform's console URLs, mounted by the console under ``/settings/fields/``."""

from django.urls import path

from . import pages

urlpatterns = [
    path("", pages.fields_page, name="platform_fields"),
    path("form/", pages.field_form, name="platform_field_form"),
    path("options/", pages.field_options, name="platform_field_options"),
    path("archive/", pages.field_archive, name="platform_field_archive"),
    path("objects/", pages.objects_page, name="platform_objects"),
    path("objects/<str:key>/records/", pages.records_page, name="platform_records"),
]
