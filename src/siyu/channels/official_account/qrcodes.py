"""Parametric QR codes (带参数二维码): created through ``qrcode/create`` before any row is written, so a refusal
leaves nothing behind; statistics per code from the ``Scan`` rows the callbacks write (one per callback, so the
platform's retries never double-count).

Scenes are strings (``QR_STR_SCENE`` / ``QR_LIMIT_STR_SCENE``, 1–64 characters), unique per account and generated
when left empty. Temporary codes live up to 30 days; permanent ones never expire (the platform caps them at
100 000 per account).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import Conflict, NotFound, ValidationFailed

from .accounts import account_of, client_for, require
from .client import SCENE_MAX, TEMP_QR_MAX_SECONDS
from .models import QrCode, Scan

OBJECT = "official_account.qrcode"


def _clean(data: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for field, limit, required in (("name", 80, True), ("scene", SCENE_MAX, False), ("source_label", 60, False),
                                   ("channel_label", 120, False)):  # fmt: skip
        text = str(data.get(field) or "").strip()
        if required and not text:
            errors.setdefault(field, []).append("required")
        elif len(text) > limit or any(not c.isprintable() for c in text):
            errors.setdefault(field, []).append(f"at most {limit} printable characters")
        out[field] = text
    out["permanent"] = bool(data.get("permanent"))
    raw = data.get("expire_seconds")
    out["expire_seconds"] = None
    if not out["permanent"]:
        try:
            out["expire_seconds"] = int(raw) if raw not in (None, "") else 7 * 86400
            if not 60 <= out["expire_seconds"] <= TEMP_QR_MAX_SECONDS:
                raise ValueError
        except (TypeError, ValueError):
            errors.setdefault("expire_seconds", []).append(f"60 to {TEMP_QR_MAX_SECONDS} seconds")
    if errors:
        raise ValidationFailed("the QR code is not valid", fields=errors)
    return out


def create_qr_code(*, actor: Actor, account_pk: Any, data: Mapping[str, Any]) -> QrCode:
    """Create a parametric QR code on the platform, then record it."""
    require(actor, "channels.official_account.manage")
    account = account_of(actor, account_pk)
    values = _clean(data)
    scene = values["scene"] or "s" + secrets.token_hex(8)
    if QrCode.objects.in_org(actor).filter(account=account, scene=scene).exists():
        raise Conflict("this scene is already used", code="scene_exists", fields={"scene": ["already used"]})
    answer = client_for(account).create_qrcode(scene=scene, permanent=values["permanent"],
                                               expire_seconds=values["expire_seconds"])  # fmt: skip
    expires = answer.get("expire_seconds")
    code = QrCode.objects.create(
        org_id=account.org_id, account=account, name=values["name"], scene=scene, permanent=values["permanent"],
        expires_at=clock.now() + dt.timedelta(seconds=int(expires)) if expires else None,
        ticket=str(answer.get("ticket") or "")[:200], url=str(answer.get("url") or "")[:500],
        source_label=values["source_label"], channel_label=values["channel_label"],
    )  # fmt: skip
    record_write(actor, "create", OBJECT, code.pk, {"name": [None, code.name], "scene": [None, scene],
                                                    "permanent": [None, code.permanent]})  # fmt: skip
    return code


def qr_codes_for(actor: Actor):
    return QrCode.objects.in_org(actor).select_related("account").order_by("-pk")


def qr_code_of(actor: Actor, code_pk: Any) -> QrCode:
    try:
        pk = int(code_pk)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    code = qr_codes_for(actor).filter(pk=pk).first()
    if code is None:
        raise NotFound("not found")
    return code


def scene_stats(actor: Actor, codes) -> dict[int, dict[str, int]]:
    """Per QR code: subscribes through it, scans by followers, and distinct people."""
    rows = (Scan.objects.in_org(actor).filter(qr_code__in=codes).values("qr_code_id")
            .annotate(subscribes=Count("pk", filter=Q(kind=Scan.Kind.SUBSCRIBE)),
                      scans=Count("pk", filter=Q(kind=Scan.Kind.SCAN)),
                      people=Count("follower_id", distinct=True)))  # fmt: skip
    return {r["qr_code_id"]: {"subscribes": r["subscribes"], "scans": r["scans"], "people": r["people"]} for r in rows}


def daily_stats(actor: Actor, code: QrCode) -> list[dict[str, Any]]:
    """Per UTC day: subscribes and scans through one code (for the chart)."""
    rows = (Scan.objects.in_org(actor).filter(qr_code=code).annotate(day=TruncDate("at", tzinfo=dt.UTC))
            .values("day").annotate(subscribes=Count("pk", filter=Q(kind=Scan.Kind.SUBSCRIBE)),
                                    scans=Count("pk", filter=Q(kind=Scan.Kind.SCAN))).order_by("day"))  # fmt: skip
    return [{"day": r["day"].isoformat(), "subscribes": r["subscribes"], "scans": r["scans"]} for r in rows]
