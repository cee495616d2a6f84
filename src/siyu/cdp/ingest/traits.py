"""From Segment traits to identifiers and profile columns (the documented mapping, see README.md).

Identifiers are taken from ``userId`` (user_id), ``anonymousId`` (anonymous_id), ``context.device.id``
(device_id) and these trait keys, in an identify call's ``traits`` and in any event's ``context.traits``:
phone/mobile/phoneNumber/phone_number → phone, email → email, unionid/unionId → unionid, erpId/erp_id → erp_id.
They are never copied into JSON columns in clear: they live encrypted in identities.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from siyu.kernel.errors import ValidationFailed

from ..identifiers import Identifier, normalise
from ..rules import BUILTIN_BLOCKLIST

TRAIT_IDENTIFIERS = {
    "phone": "phone", "mobile": "phone", "phoneNumber": "phone", "phone_number": "phone",
    "email": "email", "unionid": "unionid", "unionId": "unionid", "erpId": "erp_id", "erp_id": "erp_id",
}
MAPPED = {"name", "firstName", "lastName", "first_name", "last_name", "gender", "birthday", "province", "state",
          "city"}
GENDERS = {"m": "male", "male": "male", "man": "male", "男": "male", "1": "male",
           "f": "female", "female": "female", "woman": "female", "女": "female", "2": "female"}


def identifier(type_: str, raw: object) -> Identifier | None:
    if raw is None or isinstance(raw, dict | list | bool):
        return None
    try:
        ident = normalise(type_, raw)
    except ValidationFailed:
        return None  # an unusable phone or e-mail in traits does not fail the event
    return None if (ident.type, ident.value) in BUILTIN_BLOCKLIST else ident


def identifiers_of(event: dict) -> list[Identifier]:
    """Every identifier an event carries, in a stable order, without duplicates."""
    out: list[Identifier] = []
    kind = event["type"]
    if kind == "alias":
        return out  # alias resolves its two ids itself (processing._alias)
    for type_, raw in (("user_id", event.get("userId")), ("anonymous_id", event.get("anonymousId"))):
        if raw:
            ident = identifier(type_, raw)
            if ident:
                out.append(ident)
    context = event.get("context") or {}
    sources = [context.get("traits")]
    if kind == "identify":
        sources.insert(0, event.get("traits"))
    for traits in sources:
        if isinstance(traits, dict):
            for key, type_ in TRAIT_IDENTIFIERS.items():
                if key in traits:
                    ident = identifier(type_, traits[key])
                    if ident:
                        out.append(ident)
    device = context.get("device")
    if isinstance(device, dict) and device.get("id"):
        ident = identifier("device_id", device["id"])
        if ident:
            out.append(ident)
    return list(dict.fromkeys(out))


def without_identifiers(traits: object) -> dict:
    if not isinstance(traits, dict):
        return {}
    return {k: v for k, v in traits.items() if k not in TRAIT_IDENTIFIERS}


def _text(value: object, limit: int) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def _is_cjk(text: str) -> bool:
    return any(unicodedata.name(c, "").startswith("CJK") for c in text)


def profile_columns(traits: dict) -> tuple[dict, dict]:
    """(column values, remaining traits for the JSON column) from an identify call's traits."""
    columns: dict = {}
    name = _text(traits.get("name"), 200)
    if name is None:
        first = _text(traits.get("firstName") or traits.get("first_name"), 100) or ""
        last = _text(traits.get("lastName") or traits.get("last_name"), 100) or ""
        if first or last:
            name = (last + first) if _is_cjk(first + last) else f"{first} {last}".strip()
    if name:
        columns["name"] = name
    gender = traits.get("gender")
    if isinstance(gender, str | int) and not isinstance(gender, bool):
        columns["gender"] = GENDERS.get(str(gender).strip().lower(), "unknown")
    birthday = traits.get("birthday")
    if isinstance(birthday, str):
        try:
            columns["birthday"] = dt.date.fromisoformat(birthday.strip()[:10])
        except ValueError:
            pass
    address = traits.get("address") if isinstance(traits.get("address"), dict) else {}
    province = _text(traits.get("province") or traits.get("state") or address.get("province") or address.get("state"), 40)
    city = _text(traits.get("city") or address.get("city"), 40)
    if province:
        columns["province"] = province
    if city:
        columns["city"] = city
    extra = {k: v for k, v in traits.items() if k not in MAPPED and k not in TRAIT_IDENTIFIERS}
    return columns, extra
