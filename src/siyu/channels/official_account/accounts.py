"""Connecting an official account: validate and store its settings (secrets encrypted), build its API client and
its callback crypto, and say which callback URL to register in the official-account admin console."""

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
from siyu.channels.wxcrypto import WXBizMsgCrypt, decode_aes_key
from siyu.kernel import encrypted
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from .client import OfficialAccountClient
from .models import DEFAULT_API_BASE, Account

OBJECT = "official_account.account"
SECRET_FIELDS = ("secret", "callback_token", "encoding_aes_key")
_APPID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOKEN = re.compile(r"[A-Za-z0-9]{3,32}")  # the platform: 3-32 English letters and digits
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")

# Tests (and end-to-end runs against the simulator) may pass client options here, e.g. a sleep that does not sleep.
client_options: dict[str, Any] = {}


def require(actor: Actor, operation: str) -> None:
    if not actor.can(operation):
        raise PermissionDenied(f"missing permission {operation}", code="permission_denied")


def clean(data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """Checked settings; every refusal is reported per field together."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if creating:
        out["appid"] = text_field(data.get("appid"), "appid", 64, errors, required=True)
        if out["appid"] and not _APPID.fullmatch(out["appid"]):
            errors.setdefault("appid", []).append("letters, digits, - and _ only")
    for field, limit in (("name", 80), ("template_id", 64)):
        if field in data:
            out[field] = text_field(data.get(field), field, limit, errors)
    if "template_field" in data:
        out["template_field"] = text_field(data.get("template_field"), "template_field", 32, errors) or "content"
        if not _FIELD.fullmatch(out["template_field"]):
            errors.setdefault("template_field", []).append("a template data key: letters, digits and _")
    if creating or "api_base" in data:
        out["api_base"] = api_base_field(data.get("api_base"), DEFAULT_API_BASE, errors)
    for field in SECRET_FIELDS:
        if creating or data.get(field):
            out[field] = text_field(data.get(field), field, 200, errors, required=True)
    if out.get("callback_token") and not _TOKEN.fullmatch(out["callback_token"]):
        errors.setdefault("callback_token", []).append("3-32 letters and digits")
    if out.get("encoding_aes_key"):
        try:
            decode_aes_key(out["encoding_aes_key"])
        except CallbackCryptoError:
            errors.setdefault("encoding_aes_key", []).append("43 letters and digits (the EncodingAESKey)")
    if "is_active" in data:
        out["is_active"] = bool(data.get("is_active"))
    if errors:
        raise ValidationFailed("some settings are not valid", fields=errors)
    return out


def _audit_view(account: Account) -> dict[str, Any]:
    view = {f: getattr(account, f) for f in ("appid", "name", "api_base", "template_id", "template_field",
                                              "is_active")}  # fmt: skip
    # A secret's value never reaches the audit log: only whether it is set (and, on update, that it changed).
    view.update({f: bool(getattr(account, f)) for f in SECRET_FIELDS})
    return view


def _apply(account: Account, values: Mapping[str, Any]) -> None:
    for field, value in values.items():
        if field in SECRET_FIELDS:
            encrypted.set_encrypted(account, field, value)
        else:
            setattr(account, field, value)


# --- services -------------------------------------------------------------------------------------------------


def add_account(*, actor: Actor, data: Mapping[str, Any]) -> Account:
    """Connect an official account: ``appid``, ``secret`` (AppSecret), ``callback_token``, ``encoding_aes_key``,
    optional ``name``, ``template_id`` + ``template_field`` (what the channel port sends with) and ``api_base``
    (the simulator). Secrets are stored encrypted; the callback URL gets a fresh random key."""
    require(actor, "channels.official_account.manage")
    values = clean(data, creating=True)
    if Account.objects.in_org(actor).filter(appid=values["appid"]).exists():
        raise Conflict("this official account is already connected", code="account_exists",
                       fields={"appid": ["already connected"]})  # fmt: skip
    account = Account(org_id=actor.org_id, callback_key=secrets.token_urlsafe(24))
    _apply(account, values)
    account.save()
    record_write(actor, "create", OBJECT, account.pk, {k: [None, v] for k, v in _audit_view(account).items()})
    return account


def update_account(*, actor: Actor, account_pk: Any, data: Mapping[str, Any]) -> Account:
    """Change an account's settings; empty secret fields keep the stored secret."""
    require(actor, "channels.official_account.manage")
    account = account_of(actor, account_pk)
    values = clean({k: v for k, v in data.items() if k != "appid"}, creating=False)
    before = _audit_view(account)
    changed_secrets = [f for f in SECRET_FIELDS if f in values]
    _apply(account, values)
    account.save()
    changes = {k: [before[k], v] for k, v in _audit_view(account).items() if before[k] != v}
    changes.update({f: ["(set)", "(changed)"] for f in changed_secrets})
    record_write(actor, "update", OBJECT, account.pk, changes)
    return account


# --- reads ----------------------------------------------------------------------------------------------------


def accounts_for(actor: Actor):
    return Account.objects.in_org(actor).order_by("pk")


def account_of(actor: Actor, account_pk: Any) -> Account:
    try:
        pk = int(account_pk)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    account = Account.objects.in_org(actor).filter(pk=pk).first()
    if account is None:
        raise NotFound("not found")
    return account


def default_account(org_id: int, appid: str | None = None) -> Account:
    """The organisation's account with ``appid``, or its first active one (the adapter's default account)."""
    qs = Account.objects.in_org(Actor.system(org_id, label="official_account")).filter(is_active=True)
    account = (qs.filter(appid=appid) if appid else qs).order_by("pk").first()
    if account is None:
        raise NotFound("no official account connected")
    return account


def account_for_callback(callback_key: str) -> Account | None:
    """The account a callback URL names. Dangerous path on purpose: a callback has no actor until its account is
    known; the key is 32 random characters, so it cannot be guessed."""
    if not callback_key or len(callback_key) > 64:
        return None
    return Account.objects.unscoped_all_orgs().filter(callback_key=callback_key, is_active=True).first()


# --- what an account is used with -------------------------------------------------------------------------------


def client_for(account: Account) -> OfficialAccountClient:
    options = {"token_store": DjangoCacheTokenStore(), "http": shared_http(), **client_options}
    return OfficialAccountClient(appid=account.appid, secret=encrypted.reveal(account, "secret"),
                                 api_base=account.api_base, **options)  # fmt: skip


def callback_token(account: Account) -> str:
    return encrypted.reveal(account, "callback_token")


def crypto_for(account: Account) -> WXBizMsgCrypt:
    """Receive id = the AppID (protocol document §1.5)."""
    return WXBizMsgCrypt(token=callback_token(account),
                         encoding_aes_key=encrypted.reveal(account, "encoding_aes_key"), receive_id=account.appid)


def callback_path(account: Account) -> str:
    return f"/oa/callback/{account.callback_key}/"


def callback_url(account: Account, base: str | None = None) -> str:
    return (base or public_base_url()).rstrip("/") + callback_path(account)
