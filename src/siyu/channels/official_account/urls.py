"""The official-account channel's console URLs, mounted at ``channels/official-account/`` by the console."""

from django.urls import path

from . import pages

urlpatterns = [
    path("", pages.overview, name="channels_official_account"),
    path("accounts/new/", pages.account_new, name="official_account_new"),
    path("qr-codes/", pages.qr_codes, name="official_account_qr_codes"),
    path("followers/", pages.followers, name="official_account_followers"),
    path("callbacks/", pages.callback_log, name="official_account_callbacks"),
]
