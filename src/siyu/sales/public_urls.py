"""Public URLs of sales, mounted at ``f/`` by ``siyu/urls.py``: the embeddable web forms."""

from django.urls import path

from . import public

urlpatterns = [
    path("<str:form_key>/", public.public_form, name="sales_public_form"),
]
