from django.urls import include, path

from siyu.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("v1/", include("siyu.cdp.ingest.api")),  # Segment-compatible event ingestion (SDKs post to /v1/*)
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("siyu.console.urls")),
]
