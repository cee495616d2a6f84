"""Embeddable web forms: the builder (fields from metadata, custom fields included) and the public submission.

Public ``/f/<key>/``: GET renders the form with a *signed form token* (the form key and the time it was
issued, signed with the secret key) instead of the session's CSRF cookie, which a third-party page embedding
the form in an iframe would not have. POST checks, in order: the token (signature, this form, at most 24 hours
old), the honeypot (a field people never see, named like one bots fill), the time to submit (at least
``min_seconds`` after the token was issued), and the per-IP rate (``rate_per_minute``, the kernel's limiter);
then creates the lead through :func:`leads.create_lead` as the form (source ``web_form``, UTM attribution from
the page URL), and records consent in the CDP ledger when the box was ticked.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core import signing

from siyu.kernel import auditing, ratelimit
from siyu.kernel.actor import Actor
from siyu.kernel.errors import NotFound, ValidationFailed
from siyu.platform.selectors import object_meta

from ..models.forms import WebForm
from ..models.pools import Pool, PoolKind
from . import leads
from .common import as_int, require, text

SALT = "siyu.sales.webform"
TOKEN_MAX_AGE = 24 * 3600
HONEYPOT = "website"
STANDARD_FIELDS = {"name": 200, "phone": 40, "email": 200, "company": 200, "title": 120, "note": 2000,
                   "region": 60, "industry": 60}
FORM_FIELDS = ["name", "title", "fields", "consent_purpose", "consent_text", "consent_required", "success_message",
               "pool_id", "campaign", "min_seconds", "rate_per_minute", "is_active"]


class SpamRefused(Exception):
    """A submission refused as spam; the public view answers it without saying which check failed."""


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    required: bool
    type: str  # text, phone, email, long_text, or a custom field's type
    choices: list[tuple[str, str]]


def catalogue(actor: Actor) -> list[tuple[str, str, str]]:
    """(key, label, type) of everything a form may ask: standard lead fields and custom fields of leads."""
    meta = object_meta(actor, leads.OBJECT)
    out = [(k, k.replace("_", " ").capitalize(), {"phone": "phone", "email": "email", "note": "long_text"}.get(k, "text"))
           for k in STANDARD_FIELDS]
    return out + [(f.key, f.label, f.type) for f in meta.fields]


def _clean_fields(actor: Actor, raw: Any) -> list[dict[str, Any]]:
    known = {k: (label, t) for k, label, t in catalogue(actor)}
    if not isinstance(raw, list) or not 1 <= len(raw) <= 30:
        raise ValidationFailed("bad fields", fields={"fields": ['1 to 30 {"key", "label", "required"}']})
    out, seen = [], set()
    for n, f in enumerate(raw):
        if not isinstance(f, Mapping) or f.get("key") not in known or f["key"] in seen:
            raise ValidationFailed("bad field", fields={f"fields.{n}.key": [f"one of {', '.join(known)} (once each)"]})
        seen.add(f["key"])
        out.append({"key": f["key"], "label": text(f.get("label") or known[f["key"]][0], f"fields.{n}.label", 120),
                    "required": bool(f.get("required"))})
    if not seen & {"phone", "email"}:
        raise ValidationFailed("no contact", fields={"fields": ["ask for a phone or an email, so the lead can be "
                                                                "recognised and contacted"]})
    return out


def _apply(actor: Actor, form: WebForm, data: Mapping[str, Any]) -> None:
    unknown = sorted(set(data) - set(FORM_FIELDS))
    if unknown:
        raise ValidationFailed("unknown fields", fields={k: ["unknown field"] for k in unknown})
    if "name" in data:
        form.name = text(data["name"], "name", 120, required=True)
    for name, limit in (("title", 200), ("consent_text", 500), ("success_message", 300), ("campaign", 120),
                        ("consent_purpose", 40)):
        if name in data:
            setattr(form, name, text(data[name], name, limit))
    if "fields" in data:
        form.fields = _clean_fields(actor, data["fields"])
    for name in ("consent_required", "is_active"):
        if name in data:
            setattr(form, name, bool(data[name]))
    for name, lo, hi in (("min_seconds", 0, 600), ("rate_per_minute", 1, 1000)):
        if name in data:
            n = as_int(data[name], missing=ValidationFailed, field=name)
            if not lo <= n <= hi:
                raise ValidationFailed("out of range", fields={name: [f"between {lo} and {hi}"]})
            setattr(form, name, n)
    if "pool_id" in data:
        pid = data["pool_id"]
        if pid not in (None, "") and not Pool.objects.in_org(actor).filter(
                pk=as_int(pid, missing=ValidationFailed, field="pool_id"), kind=PoolKind.LEAD).exists():
            raise ValidationFailed("no such pool", fields={"pool_id": ["no such lead pool"]})
        form.pool_id = None if pid in (None, "") else int(pid)
    if form.consent_required and not form.consent_purpose:
        raise ValidationFailed("purpose needed", fields={"consent_purpose": ["required consent needs a purpose"]})


def create_form(*, actor: Actor, data: Mapping[str, Any]) -> WebForm:
    require(actor, "sales.form.manage")
    form = WebForm(org_id=actor.org_id, key=secrets.token_urlsafe(12))
    if "name" not in data:
        raise ValidationFailed("name required", fields={"name": ["required"]})
    data = {"fields": [{"key": "name", "required": True}, {"key": "phone", "required": True}], **data}
    _apply(actor, form, data)
    form.save()
    auditing.record_write(actor, "create", "sales.form", form.pk, auditing.diff({}, auditing.snapshot(form, FORM_FIELDS)))
    return form


def update_form(*, actor: Actor, form_id: Any, data: Mapping[str, Any]) -> WebForm:
    require(actor, "sales.form.manage")
    form = WebForm.objects.in_org(actor).filter(pk=as_int(form_id)).first()
    if form is None:
        raise NotFound("not found")
    before = auditing.snapshot(form, FORM_FIELDS)
    _apply(actor, form, data)
    form.save()
    auditing.record_write(actor, "update", "sales.form", form.pk, auditing.diff(before, auditing.snapshot(form, FORM_FIELDS)))
    return form


# --- the public side -----------------------------------------------------------------------------------------


def public_form(key: str) -> WebForm:
    """An active form by its public key (the one place a form is found without an actor: its key is the
    capability the embedding page was given)."""
    form = WebForm.objects.unscoped_all_orgs().filter(key=key, is_active=True).first()
    if form is None:
        raise NotFound("no such form")
    return form


def form_fields(form: WebForm) -> list[FormField]:
    actor = Actor.system(form.org_id, label=f"web form {form.key}")
    types = {k: t for k, _l, t in catalogue(actor)}
    meta = object_meta(actor, leads.OBJECT)
    out = []
    for f in form.fields:
        fd = meta.custom_field(f["key"])
        choices = [(c["value"], c.get("label") or c["value"]) for c in (fd.options or {}).get("choices", [])] if fd else []
        out.append(FormField(f["key"], f["label"], f["required"], types.get(f["key"], "text"), choices))
    return out


def issue_token(form: WebForm, *, now: float | None = None) -> str:
    return signing.dumps({"f": form.key, "t": now if now is not None else time.time()}, salt=SALT)


def check_token(form: WebForm, token: str, *, now: float | None = None) -> float:
    """Seconds since the token was issued; SpamRefused for a forged, foreign or stale token."""
    try:
        data = signing.loads(token or "", salt=SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        raise SpamRefused("token") from None
    if not isinstance(data, dict) or data.get("f") != form.key or not isinstance(data.get("t"), int | float):
        raise SpamRefused("token")
    return (now if now is not None else time.time()) - data["t"]


def submit(*, form: WebForm, post: Mapping[str, Any], ip: str, user_agent: str = "",
           now: float | None = None) -> leads.LeadWritten:
    """A public submission: spam checks (SpamRefused), validation (ValidationFailed naming the fields), then
    the lead and the consent record."""
    elapsed = check_token(form, str(post.get("token", "")), now=now)
    if str(post.get(HONEYPOT, "")).strip():
        raise SpamRefused("honeypot")
    if elapsed < form.min_seconds:
        raise SpamRefused("too fast")
    if not ratelimit.hit(f"webform:{form.key}:{ip}", form.rate_per_minute).allowed:
        raise SpamRefused("rate")
    actor = Actor.system(form.org_id, label=f"web form {form.key}")
    values: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for f in form_fields(form):
        raw = str(post.get(f.key, "") or "").strip()
        if f.required and not raw:
            errors[f.key] = ["required"]
            continue
        if not raw:
            continue
        if f.key in STANDARD_FIELDS:
            if len(raw) > STANDARD_FIELDS[f.key]:
                errors[f.key] = [f"at most {STANDARD_FIELDS[f.key]} characters"]
            values[f.key] = raw
        else:
            custom[f.key] = raw
    consent = str(post.get("consent", "")) in ("1", "on", "true", "yes")
    if form.consent_required and not consent:
        errors["consent"] = ["required"]
    if errors:
        raise ValidationFailed("some fields are not valid", fields=errors)
    utm = {k: str(post.get(k, ""))[:200] for k in leads.UTM_KEYS if str(post.get(k, "") or "").strip()}
    fields = {k: values[k] for k in ("company", "title", "note", "region", "industry") if k in values}
    if form.campaign:
        fields["campaign"] = form.campaign
    written = leads.create_lead(actor=actor, name=values.get("name", ""), phone=values.get("phone"),
                                email=values.get("email"), source="web_form", attribution=utm, fields=fields,
                                custom=custom, pool_id=form.pool_id)
    if consent and form.consent_purpose:
        leads.record_web_consent(actor=actor, lead=written.lead, purpose=form.consent_purpose, granted=True,
                                 evidence={"form": form.key, "ip": ip, "user_agent": user_agent[:200],
                                           "text": form.consent_text, "page": utm.get("landing_url", "")})
    WebForm.objects.filter(pk=form.pk).update(submissions=form.submissions + 1)
    return written
