"""The public callback URL, mounted at ``wecom/callback/`` by the root URLconf (outside the console)."""

from django.urls import path

from . import views

urlpatterns = [path("<str:callback_key>/", views.callback, name="wecom_callback")]
