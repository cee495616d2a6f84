"""Connecting a WeCom corp: validate and store its settings (secrets encrypted), build its API client and its
callback crypto, and say which callback URL to register in WeCom's admin console."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from siyu.channels.api_client import shared_http
from siyu.channels.errors import CallbackCryptoError
from siyu.channels.public_url import public_base_url
from siyu.channels.settings_fields import api_base_field, text_field
from siyu.channels.tokens import DjangoCacheTokenStore
from siyu.channels.wecom.client import WeComClient
from siyu.channels.wxcrypto import WXBizMsgCrypt, decode_aes_key
from siyu.kernel import encrypted
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from .models import DEFAULT_API_BASE, Corp

OBJECT = "wecom.corp"
SECRET_FIELDS = ("secret", "agent_secret", "callback_token", "encoding_aes_key")
_CORP_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOKEN = re.compile(r"[A-Za-z0-9]{1,32}")  # WeCom: English letters and digits, at most 32

# Tests (and the simulator's end-to-end runs) may pass client options here, e.g. a sleep that does not sleep.
client_options: dict[str, Any] = {}


def require(actor: Actor, operation: str) -> None:
    if not actor.can(operation):
        raise PermissionDenied(f"missing permission {operation}", code="permission_denied")


# --- validation ---------------------------------------------------------------------------------------------


def _clean(data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if creating or "corp_id" in data:
        out["corp_id"] = text_field(data.get("corp_id"), "corp_id", 64, errors, required=True)
        if out["corp_id"] and not _CORP_ID.fullmatch(out["corp_id"]):
            errors.setdefault("corp_id", []).append("letters, digits, - and _ only")
    if "name" in data:
        out["name"] = text_field(data.get("name"), "name", 80, errors)
    if creating or "api_base" in data:
        out["api_base"] = api_base_field(data.get("api_base"), DEFAULT_API_BASE, errors)
    for field in ("secret", "callback_token", "encoding_aes_key"):
        if creating or data.get(field):
            out[field] = text_field(data.get(field), field, 200, errors, required=True)
    if out.get("callback_token") and not _TOKEN.fullmatch(out["callback_token"]):
        errors.setdefault("callback_token", []).append("1-32 letters and digits")
    if out.get("encoding_aes_key"):
        try:
            decode_aes_key(out["encoding_aes_key"])
        except CallbackCryptoError:
            errors.setdefault("encoding_aes_key", []).append("43 letters and digits (WeCom's EncodingAESKey)")
    if "agent_id" in data:
        raw = data.get("agent_id")
        if raw in (None, ""):
            out["agent_id"] = None
        else:
            try:
                out["agent_id"] = int(raw)
                if not 0 < out["agent_id"] < 2**31:
                    raise ValueError
            except (TypeError, ValueError):
                errors.setdefault("agent_id", []).append("a positive number")
    if data.get("agent_secret"):
        out["agent_secret"] = text_field(data.get("agent_secret"), "agent_secret", 200, errors)
    if "is_active" in data:
        out["is_active"] = bool(data.get("is_active"))
    if errors:
        raise ValidationFailed("some settings are not valid", fields=errors)
    return out


def _audit_view(corp: Corp) -> dict[str, Any]:
    view = {f: getattr(corp, f) for f in ("corp_id", "name", "api_base", "agent_id", "is_active")}
    # A secret's value never reaches the audit log: only whether it is set (and, on update, that it changed).
    view.update({f: bool(getattr(corp, f)) for f in SECRET_FIELDS})
    return view


# --- services -------------------------------------------------------------------------------------------------


def add_corp(*, actor: Actor, data: Mapping[str, Any]) -> Corp:
    """Connect a corp: ``corp_id``, ``secret`` (customer contact), ``callback_token``, ``encoding_aes_key``,
    optional ``name``, ``agent_id`` + ``agent_secret`` (the self-built app, for app messages) and ``api_base``
    (the simulator). Secrets are stored encrypted; the callback URL gets a fresh random key."""
    require(actor, "channels.wecom.manage")
    values = _clean(data, creating=True)
    if values.get("agent_secret") and not values.get("agent_id"):
        raise ValidationFailed("agent id missing", fields={"agent_id": ["required with an app secret"]})
    if Corp.objects.in_org(actor).filter(corp_id=values["corp_id"]).exists():
        raise Conflict("this corp is already connected", code="corp_exists",
                       fields={"corp_id": ["already connected"]})
    corp = Corp(org_id=actor.org_id, callback_key=secrets.token_urlsafe(24))
    _apply(corp, values)
    corp.save()
    record_write(actor, "create", OBJECT, corp.pk, {k: [None, v] for k, v in _audit_view(corp).items()})
    return corp


def update_corp(*, actor: Actor, corp_pk: Any, data: Mapping[str, Any]) -> Corp:
    """Change a corp's settings; empty secret fields keep the stored secret."""
    require(actor, "channels.wecom.manage")
    corp = corp_of(actor, corp_pk)
    values = _clean({k: v for k, v in data.items() if k != "corp_id"}, creating=False)
    if values.get("agent_secret") and not (values.get("agent_id") or corp.agent_id):
        raise ValidationFailed("agent id missing", fields={"agent_id": ["required with an app secret"]})
    before = _audit_view(corp)
    changed_secrets = [f for f in SECRET_FIELDS if f in values]
    _apply(corp, values)
    corp.save()
    changes = {k: [before[k], v] for k, v in _audit_view(corp).items() if before[k] != v}
    changes.update({f: ["(set)", "(changed)"] for f in changed_secrets})
    record_write(actor, "update", OBJECT, corp.pk, changes)
    return corp


def _apply(corp: Corp, values: Mapping[str, Any]) -> None:
    for field, value in values.items():
        if field in SECRET_FIELDS:
            encrypted.set_encrypted(corp, field, value)
        else:
            setattr(corp, field, value)


# --- reads ----------------------------------------------------------------------------------------------------


def corps_for(actor: Actor):
    return Corp.objects.in_org(actor).order_by("pk")


def corp_of(actor: Actor, corp_pk: Any) -> Corp:
    try:
        pk = int(corp_pk)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    corp = Corp.objects.in_org(actor).filter(pk=pk).first()
    if corp is None:
        raise NotFound("not found")
    return corp


def default_corp(org_id: int, corp_id: str | None = None) -> Corp:
    """The organisation's corp with ``corp_id``, or its first active one (the adapter's default account)."""
    qs = Corp.objects.in_org(Actor.system(org_id, label="wecom")).filter(is_active=True)
    corp = (qs.filter(corp_id=corp_id) if corp_id else qs).order_by("pk").first()
    if corp is None:
        raise NotFound("no WeCom corp connected")
    return corp


def corp_for_callback(callback_key: str) -> Corp | None:
    """The corp a callback URL names. Dangerous path on purpose: a callback has no actor until its corp is known;
    the key is 32 random characters, so it cannot be guessed.

    The callback path is hot (issue 4: 200 callbacks/s): one indexed query reads only the corp's id and
    ``updated_at``, and the corp row itself comes from this process's cache while that pair is unchanged. Every
    save of the corp (``update_corp``) moves ``updated_at``, so a changed setting is read again at once, and a
    deactivated corp is not found. The returned instance is shared by this process's threads: read it only."""
    if not callback_key or len(callback_key) > 64:
        return None
    row = (Corp.objects.unscoped_all_orgs().filter(callback_key=callback_key, is_active=True)
           .values_list("pk", "updated_at").first())
    if row is None:
        return None
    cached = _callback_corps.get(callback_key)
    if cached is not None and (cached.pk, cached.updated_at) == row:
        return cached
    corp = Corp.objects.unscoped_all_orgs().filter(pk=row[0], is_active=True).first()
    if corp is not None:
        _remember(_callback_corps, callback_key, corp)
    return corp


# --- what a corp is used with -----------------------------------------------------------------------------------


def client_for(corp: Corp, *, app: bool = False) -> WeComClient:
    """The API client with the customer-contact secret, or with the app's secret (``app=True``)."""
    secret = encrypted.reveal(corp, "agent_secret" if app else "secret")
    if not secret:
        raise ValidationFailed("no app secret", fields={"agent_secret": ["this corp has no app configured"]})
    options = {"token_store": DjangoCacheTokenStore(), "http": shared_http(), **client_options}
    return WeComClient(corp_id=corp.corp_id, secret=secret, api_base=corp.api_base, **options)


def crypto_for(corp: Corp) -> WXBizMsgCrypt:
    """The callback crypto of ``corp``: its token and EncodingAESKey decrypted once per process and corp version
    (``pk``, ``updated_at``), not on every callback; a saved corp has a new ``updated_at``, so a changed token or
    key is used from its next callback on."""
    version = (corp.pk, corp.updated_at)
    cached = _cryptos.get(version)
    if cached is not None and cached.receive_id == corp.corp_id:
        return cached
    crypto = WXBizMsgCrypt(token=encrypted.reveal(corp, "callback_token"),
                           encoding_aes_key=encrypted.reveal(corp, "encoding_aes_key"), receive_id=corp.corp_id)
    if corp.pk is not None and corp.updated_at is not None:
        _remember(_cryptos, version, crypto)
    return crypto


# Per-process caches of the callback path, keyed so that a saved corp misses them (see the two functions above).
# Plain dicts: a get or a set is atomic under the GIL, and a lost race only builds the same value twice.
_CACHE_LIMIT = 256  # corps per process; far more than one installation connects, so clearing is rare
_callback_corps: dict[str, Corp] = {}
_cryptos: dict[tuple[Any, Any], WXBizMsgCrypt] = {}


def _remember(cache: dict, key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()  # old versions of saved corps pile up here otherwise
    cache[key] = value


def callback_path(corp: Corp) -> str:
    return f"/wecom/callback/{corp.callback_key}/"


def callback_url(corp: Corp, base: str | None = None) -> str:
    return (base or public_base_url()).rstrip("/") + callback_path(corp)
