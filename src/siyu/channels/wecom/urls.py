"""The WeCom channel's console URLs, mounted at ``channels/wecom/`` by the console."""

from django.urls import include, path, re_path

from . import contact_pages, group_pages, pages

urlpatterns = [
    path("", pages.overview, name="channels_wecom"),
    path("corps/new/", pages.corp_new, name="wecom_corp_new"),
    path("corps/<int:corp_id>/", pages.corp_detail, name="wecom_corp"),
    path("corps/<int:corp_id>/sync/", pages.corp_sync, name="wecom_corp_sync"),
    path("employees/", pages.employees, name="wecom_employees"),
    path("contacts/", pages.contacts, name="wecom_contacts"),
    path("contacts/<int:contact_id>/", contact_pages.contact_detail, name="wecom_contact"),
    path("callbacks/", pages.callback_log, name="wecom_callbacks"),
    path("live-codes/", pages.live_codes, name="wecom_live_codes"),
    path("live-codes/new/", pages.live_code_new, name="wecom_live_code_new"),
    path("live-codes/<int:code_id>/", pages.live_code_detail, name="wecom_live_code"),
    path("live-codes/<int:code_id>/delete/", pages.live_code_delete, name="wecom_live_code_delete"),
    path("live-codes/<int:code_id>/stats/", pages.live_code_stats, name="wecom_live_code_stats"),
    path("live-codes/<int:code_id>/stats.json", pages.live_code_stats_json, name="wecom_live_code_stats_json"),
    path("live-codes/<int:code_id>/qr.png", pages.live_code_qr_png, name="wecom_live_code_qr_png"),
    path("live-codes/<int:code_id>/qr.svg", pages.live_code_qr_svg, name="wecom_live_code_qr_svg"),
    path("groups/", group_pages.group_list, name="wecom_groups"),
    path("groups/<int:group_id>/", group_pages.group_detail, name="wecom_group"),
    path("groups/<int:group_id>/stats.json", group_pages.group_stats_json, name="wecom_group_stats_json"),
    path("group-codes/", group_pages.group_codes, name="wecom_group_codes"),
    path("group-codes/new/", group_pages.group_code_new, name="wecom_group_code_new"),
    path("group-codes/<int:code_id>/delete/", group_pages.group_code_delete, name="wecom_group_code_delete"),
    re_path(r"^group-codes/(?P<code_id>\d+)/qr\.(?P<kind>png|svg)$", group_pages.group_code_qr,
            name="wecom_group_code_qr"),
    path("transfers/", group_pages.transfer_list, name="wecom_transfers"),
    path("broadcasts/", include("siyu.channels.wecom.broadcasts.urls")),  # sub-app with its own migrations
    path("archive/", include("siyu.channels.wecom.archive.urls")),  # sub-app with its own migrations
]
