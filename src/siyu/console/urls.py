"""Console URLs: the shell's own pages, then each context's pages under their prefixes."""

from django.urls import include, path

from . import pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("dashboard/members-by-department.json", pages.members_by_department, name="console_members_by_department"),
    path("planned/<str:key>/", pages.planned, name="console_planned"),
    path("audit/", include("siyu.audit.urls")),
    path("settings/fields/", include("siyu.platform.urls")),
    path("customers/import/", include("siyu.cdp.imports_urls")),
    path("customers/segments/", include("siyu.cdp.segments.urls")),
    path("customers/", include("siyu.cdp.urls")),
    path("sales/commerce/", include("siyu.sales.commerce_urls")),
    path("channels/wecom/", include("siyu.channels.wecom.urls")),
    path("channels/official-account/", include("siyu.channels.official_account.urls")),
    path("sales/", include("siyu.sales.urls")),
    path("", include("siyu.iam.urls")),
]
