"""The public callback URL, mounted at ``oa/callback/`` by the root URLconf (outside the console)."""

from django.urls import path

from . import views

urlpatterns = [path("<str:callback_key>/", views.callback, name="official_account_callback")]
