"""Followers: subscribe / unsubscribe / scan applied in any order, and the CDP told through its public services.

A subscribe resolves the follower's profile through the identities ``openid`` (namespace = the AppID) and
``unionid`` (when the platform gives one: ``user/info``), fills only blank ``source`` / ``channel`` / ``name``
(so the first touch keeps the attribution: the QR code's labels, else ``official_account``), and writes an
"Official account followed" timeline entry with the scene. Unsubscribes and scans of followers add their own
entries. ``Follower.event_at`` keeps the newest subscribe/unsubscribe applied: an older event that arrives late
changes no state (its timeline entry still records that it happened); one of the same second is applied.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from siyu.cdp import profiles as cdp_profiles
from siyu.cdp.resolution import live
from siyu.cdp.timeline import add_entry
from siyu.channels.errors import ChannelError
from siyu.kernel import clock, encrypted, events
from siyu.kernel.actor import Actor

from . import timeline_kinds
from .accounts import client_for
from .events import Subscribed, Unsubscribed
from .models import Account, CallbackLog, Follower, QrCode, Scan

SOURCE = "official_account"
QR_PREFIX = "qrscene_"


def system_actor(account: Account) -> Actor:
    return Actor.system(account.org_id, label="official_account")


def follower_for(account: Account, openid: str) -> Follower:
    qs = Follower.objects.in_org(system_actor(account))
    follower, _ = qs.get_or_create(account=account, openid=openid[:64], defaults={"org_id": account.org_id})
    return follower


def qr_code_for(account: Account, scene: str) -> QrCode | None:
    if not scene:
        return None
    return QrCode.objects.in_org(system_actor(account)).filter(account=account, scene=scene).first()


def _newer(follower: Follower, at: dt.datetime) -> bool:
    # CreateTime has whole seconds: a follow and an unfollow in the same second are applied in processing order
    # (the order they arrived), so an unfollow right after a follow is not lost; only a strictly older event,
    # one that arrived late, changes nothing.
    return follower.event_at is None or at >= follower.event_at


def _unionid(account: Account, openid: str) -> str:
    """The follower's unionid from ``user/info`` (empty when the account is not bound to an open platform, or the
    user unfollowed meanwhile). A platform outage is raised so the callback is retried."""
    try:
        info = client_for(account).user_info(openid=openid)
    except ChannelError as exc:
        if getattr(exc, "retryable", False):
            raise
        return ""
    return str(info.get("unionid") or "")[:64]


def on_subscribe(account: Account, log: CallbackLog, message: dict[str, Any]) -> None:
    openid = message.get("FromUserName", "")
    if not openid:
        return
    at = log.event_time or clock.now()
    event_key = message.get("EventKey", "")
    scene = event_key[len(QR_PREFIX):] if event_key.startswith(QR_PREFIX) else ""
    qr = qr_code_for(account, scene)
    follower = follower_for(account, openid)
    unionid = _unionid(account, openid)
    if unionid and not follower.unionid:
        encrypted.set_encrypted(follower, "unionid", unionid)
    if _newer(follower, at):
        follower.subscribed, follower.subscribed_at, follower.event_at = True, at, at
    if qr and follower.first_qr_code_id is None:
        follower.first_qr_code = qr
    follower.save()
    if qr:
        Scan.objects.create(org_id=account.org_id, qr_code=qr, follower=follower, kind=Scan.Kind.SUBSCRIBE, at=at,
                            callback=log)  # fmt: skip
    profile = resolve_profile(account, follower, qr=qr)
    add_entry(profile=profile, kind=timeline_kinds.SUBSCRIBED, at=at, ref_type="official_account.callback",
              ref_id=str(log.pk), data={"account": account.name or account.appid, "appid": account.appid,
                                        "scene": scene, "qr_code": qr.name if qr else ""})  # fmt: skip
    events.emit(Subscribed(org_id=account.org_id, appid=account.appid, openid=openid, profile_id=profile.pk,
                           scene=scene, qr_code_id=qr.pk if qr else None))  # fmt: skip


def on_unsubscribe(account: Account, log: CallbackLog, message: dict[str, Any]) -> None:
    openid = message.get("FromUserName", "")
    if not openid:
        return
    at = log.event_time or clock.now()
    follower = follower_for(account, openid)
    if _newer(follower, at):
        follower.subscribed, follower.unsubscribed_at, follower.event_at = False, at, at
        follower.save()
    profile = live(follower.profile) if follower.profile_id else None
    if profile is None:
        return
    add_entry(profile=profile, kind=timeline_kinds.UNSUBSCRIBED, at=at, ref_type="official_account.callback",
              ref_id=str(log.pk), data={"account": account.name or account.appid, "appid": account.appid})  # fmt: skip
    events.emit(Unsubscribed(org_id=account.org_id, appid=account.appid, openid=openid, profile_id=profile.pk))


def on_scan(account: Account, log: CallbackLog, message: dict[str, Any]) -> None:
    """A follower scanned a parametric QR code (``SCAN``: ``EventKey`` is the scene without prefix)."""
    openid, scene = message.get("FromUserName", ""), message.get("EventKey", "")
    if not openid:
        return
    at = log.event_time or clock.now()
    qr = qr_code_for(account, scene)
    follower = follower_for(account, openid)
    if qr:
        Scan.objects.create(org_id=account.org_id, qr_code=qr, follower=follower, kind=Scan.Kind.SCAN, at=at,
                            callback=log)  # fmt: skip
    profile = resolve_profile(account, follower, qr=qr)
    add_entry(profile=profile, kind=timeline_kinds.SCANNED, at=at, ref_type="official_account.callback",
              ref_id=str(log.pk), data={"account": account.name or account.appid, "appid": account.appid,
                                        "scene": scene, "qr_code": qr.name if qr else ""})  # fmt: skip


def resolve_profile(account: Account, follower: Follower, *, qr: QrCode | None = None):
    """The follower's CDP profile through its ``openid`` (namespaced by the AppID) and ``unionid`` identities,
    created when none matches; blank source and channel are filled in from the QR code."""
    identifiers = [{"type": "openid", "value": follower.openid, "namespace": account.appid}]
    unionid = encrypted.reveal(follower, "unionid")
    if unionid:
        identifiers.append({"type": "unionid", "value": unionid})
    data = {"source": (qr.source_label if qr else "") or SOURCE,
            "channel": (qr.channel_label or qr.name) if qr else (account.name or None)}  # fmt: skip
    written = cdp_profiles.create_profile(actor=system_actor(account), data=data, identifiers=identifiers,
                                          source=SOURCE)  # fmt: skip
    profile = written.profile
    if follower.profile_id != profile.pk:
        follower.profile = profile
        follower.save(update_fields=["profile", "updated_at"])
    return profile


def current_profile(follower: Follower):
    return live(follower.profile) if follower.profile_id else None
