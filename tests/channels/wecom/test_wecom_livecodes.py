"""Live codes: the rotation rules (pure), and the service that keeps the contact way's user list right as adds come
in and hours change; statistics recount; validation before WeCom is called."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client

from siyu.channels.wecom import corps, livecodes, tasks
from siyu.channels.wecom.models import FollowRelation, LiveCode
from siyu.channels.wecom.rotation import Candidate, in_schedule, target_users
from siyu.channels.wecom.testing import FakeWeCom, signed_post
from siyu.kernel.actor import Actor
from siyu.kernel.errors import ValidationFailed

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
MONDAY_10 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)  # a Monday


# --- the rules ---------------------------------------------------------------------------------------------------


def test_schedule_windows():
    day = {"weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}
    assert in_schedule(day, MONDAY_10)
    assert not in_schedule(day, MONDAY_10.replace(hour=18))
    assert not in_schedule(day, MONDAY_10 + dt.timedelta(days=5))  # Saturday
    night = {"weekdays": [1], "start": "22:00", "end": "06:00"}
    assert in_schedule(night, MONDAY_10.replace(hour=23))
    assert in_schedule(night, MONDAY_10.replace(hour=3) + dt.timedelta(days=1))  # Tuesday 03:00 = Monday's shift
    assert not in_schedule(night, MONDAY_10.replace(hour=3))  # Monday 03:00 = Sunday's shift
    assert in_schedule({}, MONDAY_10)


def test_weights_steer_the_split_towards_their_ratio():
    def pick(adds_a, adds_b):
        return target_users([Candidate("a", 2, adds_today=adds_a), Candidate("b", 1, adds_today=adds_b)],
                            working=True, daily_cap=None)

    assert pick(0, 0) == ["a", "b"]
    assert pick(1, 0) == ["b"]
    assert pick(1, 1) == ["a"]
    assert pick(2, 1) == ["a", "b"]
    # simulate: whoever is listed takes the next add (the first when several) → 2:1 over time
    adds = {"a": 0, "b": 0}
    for _ in range(30):
        adds[pick(adds["a"], adds["b"])[0]] += 1
    assert adds == {"a": 20, "b": 10}


def test_caps_hours_and_backup_staff():
    staff = [Candidate("a", adds_today=3), Candidate("b", adds_today=1), Candidate("z", is_backup=True)]
    assert target_users(staff, working=True, daily_cap=3) == ["b"]
    assert target_users(staff, working=False, daily_cap=3) == ["z"]
    capped = [Candidate("a", adds_today=3), Candidate("z", is_backup=True, adds_today=3)]
    assert target_users(capped, working=True, daily_cap=3) == ["z"]  # someone must take the scan
    assert target_users([Candidate("a", adds_today=5)], working=False, daily_cap=3) == ["a"]
    assert target_users([], working=True, daily_cap=None) == []


# --- the service ---------------------------------------------------------------------------------------------------


@pytest.fixture
def fake():
    f = FakeWeCom()
    for userid in ("a", "b", "z"):
        f.add_employee(userid)
    return f


@pytest.fixture
def corp(connect):
    return connect(corp_tags=False)


def test_validation_happens_before_wecom_is_called(corp, fake):
    system = Actor.system(corp.org_id)
    with pytest.raises(ValidationFailed) as exc:
        livecodes.create_live_code(actor=system, corp_pk=corp.pk, data={
            "name": "", "state": "x" * 31, "members": [{"userid": "z", "is_backup": True}], "daily_cap": 0,
            "tag_ids": ["ghost"], "schedule": {"start": "25:00", "end": "18:00"},
            "welcome": {"text": "字" * 1400}})
    assert sorted(exc.value.fields) == ["daily_cap", "members", "name", "schedule.start", "state", "tag_ids",
                                        "welcome.text"]
    assert fake.called("externalcontact/add_contact_way") == []
    assert LiveCode.objects.count() == 0


def test_rotation_follows_adds_caps_and_hours(corp, fake, drain):
    system = Actor.system(corp.org_id)
    with time_machine.travel(MONDAY_10, tick=False):
        code = livecodes.create_live_code(actor=system, corp_pk=corp.pk, data={
            "name": "轮换", "state": "rot", "daily_cap": 2,
            "schedule": {"weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"},
            "members": [{"userid": "a", "weight": 2}, {"userid": "b"}, {"userid": "z", "is_backup": True}]})
        assert fake.contact_ways[code.config_id]["user"] == ["a", "b"]
        client = Client()
        for n, expected in enumerate([["b"], ["a"], ["b"]]):
            userid = fake.contact_ways[code.config_id]["user"][0]
            xml = fake.scan(state="rot", external_userid=f"wo{n}", userid=userid)
            signed_post(client, corps.callback_path(corp), xml, corp_id=corp.corp_id)
            drain()
            tasks.rotate_live_code.call_local(corp.org_id, code.pk)
            assert fake.contact_ways[code.config_id]["user"] == expected, n
        # a: 2 adds (capped), b: 1; then b reaches the cap too: backup staff take over
        xml = fake.scan(state="rot", external_userid="wo9", userid="b")
        signed_post(client, corps.callback_path(corp), xml, corp_id=corp.corp_id)
        drain()
        tasks.rotate_live_code.call_local(corp.org_id, code.pk)
        assert fake.contact_ways[code.config_id]["user"] == ["z"]
        assert FollowRelation.objects.filter(live_code=code).count() == 4
    # the next morning caps are reset; at 20:00 the primaries rest
    with time_machine.travel(MONDAY_10 + dt.timedelta(days=1), tick=False):
        assert tasks.rotate_all.call_local() == 1
        assert fake.contact_ways[code.config_id]["user"] == ["a", "b"]
    with time_machine.travel(MONDAY_10.replace(hour=20) + dt.timedelta(days=1), tick=False):
        tasks.rotate_all.call_local()
        assert fake.contact_ways[code.config_id]["user"] == ["z"]
        assert tasks.rotate_all.call_local() == 0  # nothing changed: no call


def test_deleted_code_keeps_its_state_and_statistics(corp, fake, drain):
    system = Actor.system(corp.org_id)
    code = livecodes.create_live_code(actor=system, corp_pk=corp.pk, data={"name": "旧码", "state": "old",
                                                                          "members": [{"userid": "a"}]})
    livecodes.delete_live_code(actor=system, code_pk=code.pk)
    with pytest.raises(ValidationFailed) as exc:
        livecodes.create_live_code(actor=system, corp_pk=corp.pk, data={"name": "新码", "state": "old",
                                                                       "members": [{"userid": "a"}]})
    assert exc.value.fields == {"state": ["already used by another live code of this corp"]}
    # a late scan of the old QR code is still attributed to it
    signed_post(Client(), corps.callback_path(corp), fake.scan(state="old", external_userid="woLate", userid="a"),
                corp_id=corp.corp_id)
    drain()
    assert FollowRelation.objects.get().live_code_id == code.pk
    assert livecodes.totals(code) == {"adds": 1, "deletions": 0, "net": 1, "active": 1}
