"""The CDP's console URLs, mounted at ``customers/`` by the console (``include("siyu.cdp.urls")``)."""

from django.urls import path

from . import pages, sources_pages

urlpatterns = [
    path("", pages.profile_list, name="cdp_profiles"),
    path("new/", pages.profile_create, name="cdp_profile_create"),
    path("profiles/<int:profile_id>/", pages.profile_page, name="cdp_profile"),
    path("profiles/<int:profile_id>/timeline/", pages.profile_timeline, name="cdp_profile_timeline"),
    path("profiles/<int:profile_id>/tags/", pages.tag_add, name="cdp_profile_tag_add"),
    path("profiles/<int:profile_id>/tags/<int:tag_id>/remove/", pages.tag_remove, name="cdp_profile_tag_remove"),
    path("profiles/<int:profile_id>/identities/<int:identity_id>/reveal/", pages.identity_reveal,
         name="cdp_identity_reveal"),
    path("profiles/<int:profile_id>/consent/", pages.consent, name="cdp_profile_consent"),
    path("profiles/<int:profile_id>/lifecycle/", pages.lifecycle_set, name="cdp_profile_lifecycle"),
    path("profiles/<int:profile_id>/lifecycle.json", pages.lifecycle_chart, name="cdp_profile_lifecycle_chart"),
    path("profiles/<int:profile_id>/owner/", pages.owner_set, name="cdp_profile_owner"),
    path("merge-reviews/", pages.merge_reviews, name="cdp_merge_reviews"),
    path("merge-reviews/<int:review_id>/approve/", pages.review_approve, name="cdp_review_approve"),
    path("merge-reviews/<int:review_id>/reject/", pages.review_reject, name="cdp_review_reject"),
    path("merges/", pages.merge_log, name="cdp_merges"),
    path("merges/<int:merge_id>/unmerge/", pages.merge_undo, name="cdp_merge_undo"),
    path("lifecycle-stages/", pages.stage_settings, name="cdp_stages"),
    path("sources/", sources_pages.source_list, name="cdp_sources"),
    path("sources/<int:source_id>/disable/", sources_pages.source_set_active, {"active": False},
         name="cdp_source_disable"),
    path("sources/<int:source_id>/enable/", sources_pages.source_set_active, {"active": True},
         name="cdp_source_enable"),
    path("sources/<int:source_id>/rotate/", sources_pages.source_rotate, name="cdp_source_rotate"),
]
