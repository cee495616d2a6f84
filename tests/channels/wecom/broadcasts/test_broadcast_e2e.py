"""Issue 4's test "consent blocks a broadcast", end to end over real HTTP against the simulator: customers synced
from the simulator, consent in the CDP ledger, a broadcast planned, handed to WeCom with ``add_msg_template``,
confirmed by the simulated employees and its results collected."""

from __future__ import annotations

import pytest

from siyu.cdp import consent
from siyu.cdp.segments import services as segments
from siyu.channels.wecom.broadcasts import services
from siyu.channels.wecom.broadcasts.models import Broadcast, BroadcastBatch, BroadcastRecipient
from siyu.channels.wecom.models import ExternalContact
from siyu.channels.wecom.simulator import actions
from siyu.kernel.actor import Actor

from .conftest import sim_rows

pytestmark = pytest.mark.django_db(transaction=False)


def _contacts(org):
    return list(ExternalContact.objects.in_org(Actor.system(org.pk)).select_related("profile")
                .order_by("external_userid"))


def _grant(actor, contact, granted=True):
    consent.record_consent(actor=actor, profile=contact.profile, purpose="marketing", granted=granted,
                           source="test", channel="wecom")


def _broadcast(actor, corp, *, name="618 大促", consent_filtered=False):
    segment = segments.create_segment(actor=actor, name=f"everyone {name}", rules={"op": "and", "rules": []})
    data = {"name": name, "text": "618 大促：全场五折", "corp_id": corp.pk, "segment_id": segment.pk}
    if not consent_filtered:  # an unfiltered snapshot: the ledger must still block at planning time
        data["snapshot_id"] = segments.create_snapshot(actor=actor, segment_id=segment.pk).pk
    return services.create_broadcast(actor=actor, data=data)


def test_consent_blocks_a_broadcast(org, admin_actor, connected, sim, sim_corp, run_due):
    corp = connected(customers=6)
    consent.ensure_default_purposes(actor=admin_actor)
    contacts = _contacts(org)
    assert len(contacts) == 6 and all(c.profile_id for c in contacts)
    for c in contacts[:4]:
        _grant(admin_actor, c)
    _grant(admin_actor, contacts[3], granted=False)  # granted, then withdrawn: blocked
    # contacts[4]: a grant for another channel only; contacts[5]: no record at all
    consent.record_consent(actor=admin_actor, profile=contacts[4].profile, purpose="marketing", granted=True,
                           source="test", channel="sms")

    broadcast = _broadcast(admin_actor, corp)
    run_due()

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DONE
    allowed = {c.external_userid for c in contacts[:3]}
    # What reached WeCom: exactly the three consenting customers, each once, through their own follow user.
    sends = sim_rows(sim, "SELECT userid, external_userid, status FROM msg_template_sends")
    assert {s["external_userid"] for s in sends} == allowed
    assert len(sends) == 3 and all(s["status"] == 1 for s in sends)
    follows = {r["external_userid"]: r["userid"] for r in sim_rows(sim, "SELECT * FROM follows")}
    assert all(s["userid"] == follows[s["external_userid"]] for s in sends)
    templates = sim_rows(sim, "SELECT * FROM msg_templates")
    assert len(templates) == len({s["userid"] for s in sends})  # one task per sender
    statuses = dict(BroadcastRecipient.objects.filter(broadcast=broadcast)
                    .values_list("external_userid", "status"))
    assert statuses == {**{e: "sent" for e in allowed},
                        **{c.external_userid: "no_consent" for c in contacts[3:]}}


def test_results_per_customer_and_employee(org, admin_actor, connected, sim, sim_corp, run_due):
    corp = connected(customers=4)
    consent.ensure_default_purposes(actor=admin_actor)
    contacts = _contacts(org)
    for c in contacts:
        _grant(admin_actor, c)
    # The simulated employees confirm only after a while, so results are collected in a later round.
    sim.config.broadcast_confirm_delay = 3600
    broadcast = _broadcast(admin_actor, corp, consent_filtered=True)
    run_due()
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.HANDED
    assert set(BroadcastRecipient.objects.filter(broadcast=broadcast).values_list("status", flat=True)) == {"accepted"}
    # Before the employees confirm, one customer deletes the employee: WeCom reports "not a friend".
    gone = contacts[0].external_userid
    actions.delete(sim.sim, corp_id=sim_corp.corp_id, external_userid=gone, by="customer")
    sim.store.conn().execute("UPDATE msg_templates SET confirm_at = 0")
    sim.store.conn().commit()
    run_due()
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DONE
    statuses = dict(BroadcastRecipient.objects.filter(broadcast=broadcast).values_list("external_userid", "status"))
    assert statuses[gone] == "not_friend"
    assert sorted(statuses.values()) == ["not_friend", "sent", "sent", "sent"]
    assert all(b.results_final for b in BroadcastBatch.objects.filter(broadcast=broadcast))
    from siyu.channels.wecom.broadcasts.selectors import per_employee

    rows = {r["userid"]: r for r in per_employee(admin_actor, broadcast)}
    assert sum(r["sent"] for r in rows.values()) == 3
    assert sum(r["not_friend"] for r in rows.values()) == 1
    assert set(rows) == {"lisi", "zhangsan"}
