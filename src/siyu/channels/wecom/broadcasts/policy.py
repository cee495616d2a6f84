"""The organisation's broadcast policy: our frequency cap per customer and WeCom's receive rule, and the exact
counts of what each customer already used (read while the policy row is locked)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count

from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import PermissionDenied, ValidationFailed

from .models import COUNTED, BroadcastPolicy, BroadcastRecipient, WeComRule

MAX_CAP = 100
MAX_WINDOW_DAYS = 365


def policy_of(actor: Actor, *, lock: bool = False) -> BroadcastPolicy:
    """The organisation's policy (created with the defaults on first use); ``lock`` holds it for the
    transaction, which serialises planning so the cap is counted exactly."""
    qs = BroadcastPolicy.objects.in_org(actor)
    policy = (qs.select_for_update() if lock else qs).first()
    if policy is None and not lock:
        return BroadcastPolicy(org_id=actor.org_id)  # the defaults; a read writes nothing
    if policy is None:
        BroadcastPolicy.objects.get_or_create(org_id=actor.org_id)
        policy = (qs.select_for_update() if lock else qs).get()
    return policy


def update_policy(*, actor: Actor, data: Mapping[str, Any]) -> BroadcastPolicy:
    if not actor.can("channels.broadcast.manage"):
        raise PermissionDenied("changing the broadcast policy needs channels.broadcast.manage")
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for field, high in (("max_per_window", MAX_CAP), ("window_days", MAX_WINDOW_DAYS)):
        raw = data.get(field)
        try:
            number = int(str(raw).strip())
        except (TypeError, ValueError):
            errors[field] = [f"a whole number from 1 to {high}"]
            continue
        if not 1 <= number <= high:
            errors[field] = [f"a whole number from 1 to {high}"]
        values[field] = number
    rule = data.get("wecom_rule")
    if rule not in WeComRule.values:
        errors["wecom_rule"] = [f"one of {', '.join(WeComRule.values)}"]
    if errors:
        raise ValidationFailed("the policy is not valid", fields=errors)
    policy = policy_of(actor, lock=True)
    changes = {k: [getattr(policy, k), v] for k, v in {**values, "wecom_rule": rule}.items()
               if getattr(policy, k) != v}
    for k, (_, v) in changes.items():
        setattr(policy, k, v)
    policy.save()
    record_write(actor, "update", "channels.broadcast_policy", policy.pk, changes)
    return policy


def wecom_period(rule: str, now: dt.datetime) -> tuple[dt.datetime, int]:
    """Start of WeCom's current counting period in local time, and how many broadcasts it allows."""
    local = now.astimezone(ZoneInfo(settings.TIME_ZONE))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if rule == WeComRule.DAY_1:
        return midnight, 1
    if rule == WeComRule.WEEK_7:
        return midnight - dt.timedelta(days=local.weekday()), 7
    return midnight.replace(day=1), calendar.monthrange(local.year, local.month)[1]


def profiles_at_cap(actor: Actor, policy: BroadcastPolicy, now: dt.datetime | None = None) -> set[int]:
    """Profiles that already used ``max_per_window`` slots in the last ``window_days`` (any corp)."""
    since = (now or clock.now()) - dt.timedelta(days=policy.window_days)
    rows = (BroadcastRecipient.objects.in_org(actor).filter(status__in=COUNTED, planned_at__gt=since)
            .values("profile_id").annotate(n=Count("id")).filter(n__gte=policy.max_per_window))
    return {r["profile_id"] for r in rows}


def contacts_at_wecom_limit(actor: Actor, policy: BroadcastPolicy, corp_id: int,
                            now: dt.datetime | None = None) -> set[int]:
    """External contacts of the corp that already received WeCom's allowance of the current period."""
    start, allowed = wecom_period(policy.wecom_rule, now or clock.now())
    rows = (BroadcastRecipient.objects.in_org(actor)
            .filter(broadcast__corp_id=corp_id, status__in=COUNTED, planned_at__gte=start,
                    external_contact__isnull=False)
            .values("external_contact_id").annotate(n=Count("id")).filter(n__gte=allowed))
    return {r["external_contact_id"] for r in rows}
