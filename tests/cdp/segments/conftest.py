"""Fixtures of the segment tests: a small world of profiles with tags, identities, consent, lifecycle stages
and event rollups, written directly (the rules read these tables; ingestion has its own tests)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from siyu.cdp import consent, lifecycle
from siyu.cdp.models import EventDailyRollup, EventRollup, Profile
from siyu.kernel.actor import Actor

NOW = dt.datetime(2025, 3, 10, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai on 10 March
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.fixture
def system(org):
    actor = Actor.system(org.pk)
    consent.ensure_default_purposes(actor=actor)
    lifecycle.ensure_default_stages(actor=actor)
    return actor


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def make_profile(system):
    def make(name="p", **fields):
        return Profile.objects.create(org_id=system.org_id, name=name, **fields)

    return make


@pytest.fixture
def did(system):
    """``did(profile, "Product Viewed", day_offsets=[0, 0, 3])``: events on local days before NOW, with rollups
    written as ingestion writes them (totals plus per local day)."""

    def add(profile, name, day_offsets):
        today = NOW.astimezone(SHANGHAI).date()
        times = sorted(dt.datetime.combine(today - dt.timedelta(days=d), dt.time(10), tzinfo=SHANGHAI)
                       for d in day_offsets)
        EventRollup.objects.create(org_id=system.org_id, profile_id=profile.pk, name=name, count=len(times),
                                   first_at=times[0], last_at=times[-1])
        per_day: dict = {}
        for t in times:
            per_day[t.date()] = per_day.get(t.date(), 0) + 1
        EventDailyRollup.objects.bulk_create([
            EventDailyRollup(org_id=system.org_id, profile_id=profile.pk, name=name, day=d, count=n)
            for d, n in per_day.items()])

    return add


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # Logins in the page tests: Argon2id is tested where passwords are the subject (iam).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
