"""Console URLs of segments and personas, mounted at ``customers/segments/`` by the console."""

from django.urls import path

from . import pages

urlpatterns = [
    path("", pages.segment_list, name="cdp_segments"),
    path("new/", pages.segment_create, name="cdp_segment_create"),
    path("builder/", pages.builder_update, name="cdp_segment_builder"),
    path("preview/", pages.preview, name="cdp_segment_preview"),
    path("<int:segment_id>/", pages.segment_page, name="cdp_segment"),
    path("<int:segment_id>/edit/", pages.segment_edit, name="cdp_segment_edit"),
    path("<int:segment_id>/snapshots/", pages.snapshot_create, name="cdp_segment_snapshot"),
    path("<int:segment_id>/recompute/", pages.segment_recompute, name="cdp_segment_recompute"),
    path("<int:segment_id>/delete/", pages.segment_delete, name="cdp_segment_delete"),
    path("personas/", pages.persona_list, name="cdp_personas"),
    path("personas/new/", pages.persona_create, name="cdp_persona_create"),
    path("personas/<int:persona_id>/", pages.persona_page, name="cdp_persona"),
    path("personas/<int:persona_id>/edit/", pages.persona_edit, name="cdp_persona_edit"),
    path("personas/<int:persona_id>/delete/", pages.persona_delete, name="cdp_persona_delete"),
    path("personas/<int:persona_id>/traits/<str:trait>.json", pages.persona_trait, name="cdp_persona_trait"),
]
