from django.urls import include, path

from siyu.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("v1/", include("siyu.cdp.ingest.api")),  # Segment-compatible event ingestion (SDKs post to /v1/*)
    path("wecom/callback/", include("siyu.channels.wecom.callback_urls")),  # WeCom posts callbacks here
    path("oa/callback/", include("siyu.channels.official_account.callback_urls")),  # the official account's
    path("f/", include("siyu.sales.public_urls")),  # public embeddable web forms (signed token, no session)
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("siyu.console.urls")),
]
