"""The consent ledger and the one question every sender asks: may this profile be contacted for this purpose on
this channel now?

Records are append-only; the answer is the latest record for (profile, purpose) that covers the channel — a
channel-specific record beats an all-channel one of the same age or older. No record means no consent:
PIPL art. 13-14 require an affirmative basis for marketing and profiling.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import ValidationFailed

from .changes import profiles_changed
from .models import ConsentPurpose, ConsentRecord, Profile
from .timeline import add_entry

DEFAULT_PURPOSES = [
    {"key": "marketing", "label": "Marketing messages", "channels": ["wecom", "official_account", "sms", "email"]},
    {"key": "profiling", "label": "Profiling and personalisation", "channels": []},
    {"key": "conversation_archive", "label": "WeCom conversation archiving", "channels": ["wecom"]},
    {"key": "sensitive", "label": "Sensitive personal information", "channels": [], "is_sensitive": True},
]


@dataclass(frozen=True)
class ConsentAnswer:
    allowed: bool
    reason: str  # "granted", "withdrawn", "no_record", "unknown_purpose", "channel_not_covered"
    record_id: int | None = None
    at: dt.datetime | None = None


def ensure_default_purposes(*, actor: Actor) -> None:
    for p in DEFAULT_PURPOSES:
        ConsentPurpose.objects.get_or_create(org_id=actor.org_id, key=p["key"], defaults={**p, "org_id": actor.org_id})


def _purpose(actor: Actor, key: str) -> ConsentPurpose | None:
    return ConsentPurpose.objects.in_org(actor).filter(key=key).first()


def record_consent(
    *, actor: Actor, profile: Profile, purpose: str, granted: bool, source: str, channel: str = "",
    notice_version: str = "", evidence: dict | None = None, at: dt.datetime | None = None,
) -> ConsentRecord:
    """Append a grant or a withdrawal with its evidence (who, when, which notice, how)."""
    p = _purpose(actor, purpose)
    if p is None:
        raise ValidationFailed("unknown purpose", fields={"purpose": [f"no purpose {purpose!r}"]})
    if channel and p.channels and channel not in p.channels:
        raise ValidationFailed("channel not covered", fields={"channel": [f"{purpose} does not cover {channel}"]})
    if not source:
        raise ValidationFailed("source required", fields={"source": ["say where the consent was given"]})
    rec = ConsentRecord.objects.create(
        org_id=actor.org_id, profile=profile, purpose=p, channel=channel, granted=granted, at=at or clock.now(),
        source=source, notice_version=notice_version or p.notice_version, actor_user_id=actor.user_id,
        evidence=evidence or {},
    )
    add_entry(profile=profile, kind="consent.granted" if granted else "consent.withdrawn", at=rec.at,
              ref_type="cdp.consent", ref_id=str(rec.pk),
              data={"purpose": purpose, "channel": channel, "source": source, "notice_version": rec.notice_version})
    record_write(actor, "consent." + ("grant" if granted else "withdraw"), "cdp.profile", profile.pk,
                 {f"consent.{purpose}.{channel or '*'}": [None, granted]}, source=source)
    profiles_changed(profile.org_id, [profile.pk], reason="consent")
    return rec


def may_contact(*, actor: Actor, profile: Profile, purpose: str, channel: str = "", at: dt.datetime | None = None) -> ConsentAnswer:
    """Whether the profile may be contacted for ``purpose`` on ``channel`` at ``at`` (default now)."""
    p = _purpose(actor, purpose)
    if p is None:
        return ConsentAnswer(False, "unknown_purpose")
    if channel and p.channels and channel not in p.channels:
        return ConsentAnswer(False, "channel_not_covered")
    qs = ConsentRecord.objects.in_org(actor).filter(profile=profile, purpose=p, at__lte=at or clock.now())
    qs = qs.filter(channel__in=[channel, ""]) if channel else qs.filter(channel="")
    latest = qs.order_by("-at", "-id").first()
    if latest is None:
        return ConsentAnswer(False, "no_record")
    return ConsentAnswer(latest.granted, "granted" if latest.granted else "withdrawn", latest.pk, latest.at)


def allowed_profile_ids(*, actor: Actor, profile_ids: list[int], purpose: str, channel: str = "") -> set[int]:
    """Bulk form of :func:`may_contact` for broadcasts: one query over the candidates' latest records."""
    p = _purpose(actor, purpose)
    if p is None or (channel and p.channels and channel not in p.channels):
        return set()
    qs = ConsentRecord.objects.in_org(actor).filter(profile_id__in=profile_ids, purpose=p, at__lte=clock.now())
    qs = qs.filter(channel__in=[channel, ""]) if channel else qs.filter(channel="")
    latest: dict[int, tuple] = {}
    for pid, at, pk, granted in qs.values_list("profile_id", "at", "pk", "granted"):
        if pid not in latest or (at, pk) > latest[pid][:2]:
            latest[pid] = (at, pk, granted)
    return {pid for pid, v in latest.items() if v[2]}
