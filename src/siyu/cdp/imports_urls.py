"""Console URLs of imports and exports, mounted at ``customers/import/`` by the console."""

from django.urls import path

from . import imports_pages as pages

urlpatterns = [
    path("", pages.import_list, name="cdp_imports"),
    path("export/", pages.export, name="cdp_export"),
    path("<int:job_id>/", pages.import_page, name="cdp_import"),
    path("<int:job_id>/mapping/", pages.mapping_save, name="cdp_import_mapping"),
    path("<int:job_id>/dry-run/", pages.import_dry_run, name="cdp_import_dry_run"),
    path("<int:job_id>/run/", pages.import_run, name="cdp_import_run"),
    path("<int:job_id>/progress/", pages.import_progress, name="cdp_import_progress"),
    path("<int:job_id>/errors/", pages.import_errors, name="cdp_import_errors"),
]
