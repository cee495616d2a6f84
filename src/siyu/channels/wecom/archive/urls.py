"""Console URLs of the conversation archive, mounted at ``channels/wecom/archive/`` by the wecom URLconf."""

from django.urls import path

from . import pages

urlpatterns = [
    path("", pages.archive_overview, name="wecom_archive"),
    path("corps/<int:corp_id>/", pages.archive_config, name="wecom_archive_config"),
    path("configs/<int:config_id>/fetch/", pages.archive_fetch, name="wecom_archive_fetch"),
    path("words/", pages.archive_word_add, name="wecom_archive_word_add"),
    path("words/<int:rule_id>/delete/", pages.archive_word_delete, name="wecom_archive_word_delete"),
    path("customers/<int:profile_id>/", pages.archive_conversation, name="wecom_archive_conversation"),
]
