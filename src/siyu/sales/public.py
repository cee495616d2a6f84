"""The public web form ``/f/<key>/`` (mounted at the site root by ``siyu/urls.py``): no session, no CSRF cookie
(a signed form token instead, see services/forms.py), embeddable in an iframe on any site, its script served
from our own static files (CSP ``script-src 'self'``)."""

from __future__ import annotations

from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from siyu.kernel.errors import DomainError, NotFound

from .services import forms, leads

# Embeddable anywhere (frame-ancestors *), everything else as strict as the console's policy.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors *; base-uri 'none'; form-action 'self'")


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _render(request, form, *, status: int = 200, **extra):
    utm = {k: request.GET.get(k, "")[:200] for k in leads.UTM_KEYS if request.GET.get(k)}
    context = {"form": form, "fields": forms.form_fields(form), "token": forms.issue_token(form), "utm": utm,
               "honeypot": forms.HONEYPOT, "values": {}, "errors": {}, **extra}
    response = render(request, "sales/public_form.html", context, status=status)
    response["Content-Security-Policy"] = CSP
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # the signed form token stands in for the CSRF cookie a third-party page cannot have
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def public_form(request, form_key: str):
    try:
        form = forms.public_form(form_key)
    except NotFound:
        raise Http404("no such form") from None
    if request.method == "GET":
        return _render(request, form)
    try:
        with transaction.atomic():
            forms.submit(form=form, post=request.POST, ip=_client_ip(request),
                         user_agent=request.headers.get("User-Agent", ""))
    except forms.SpamRefused:
        # Told nothing useful: a bot learns neither which check failed nor whether a lead was made.
        return _render(request, form, status=400, refused=True)
    except DomainError as exc:
        return _render(request, form, status=422, errors=exc.fields, values=request.POST)
    response = HttpResponse(status=200)
    response = render(request, "sales/public_thanks.html", {"form": form})
    response["Content-Security-Policy"] = CSP
    return response
