"""Siyu against a real simulator over HTTP: the simulator in-process on a free loopback port, a corp connected
with ``api_base`` pointing at it, employees and customers synced through the real client."""

from __future__ import annotations

import pytest

from siyu.channels.wecom import corps, sync
from siyu.channels.wecom.simulator import seed, state
from siyu.channels.wecom.simulator.config import SimConfig
from siyu.channels.wecom.simulator.server import SimServer
from siyu.channels.wecom.simulator.store import Store
from siyu.kernel import clock, scheduled
from siyu.kernel.actor import Actor
from siyu.kernel.models import ScheduledAction

FAST = dict(callback_timeout=0.5, retry_delays=(0.05, 0.05, 0.05), tick_interval=0.1, dispatcher_threads=1)


@pytest.fixture
def sim(tmp_path):
    server = SimServer(store=Store(tmp_path / "sim.sqlite3"), config=SimConfig(**FAST), port=0).start()
    yield server
    server.stop()


@pytest.fixture
def sim_corp(sim):
    creds = state.create_corp(sim.store, name="测试企业", corp_id="wwbroadcast00001")
    state.add_department(sim.store, creds.corp_id, dept_id=2, name="销售部")
    state.add_employee(sim.store, creds.corp_id, userid="zhangsan", name="张三", department=[2])
    state.add_employee(sim.store, creds.corp_id, userid="lisi", name="李四", department=[2])
    return creds


@pytest.fixture
def connected(org, admin_actor, sim, sim_corp):
    """``connected(customers=n)``: n customers in the simulator (round robin over the two employees), the corp
    connected in Siyu and synced (employees, then contacts: profiles are created by the sync)."""

    def make(customers: int = 6):
        seed.populate(sim.sim, corp_id=sim_corp.corp_id, customers=customers)
        corp = corps.add_corp(actor=Actor.system(org.pk), data={
            "corp_id": sim_corp.corp_id, "secret": sim_corp.contact_secret, "callback_token": sim_corp.token,
            "encoding_aes_key": sim_corp.aes_key, "api_base": sim.api_base, "name": "测试企业"})
        sync.sync_employees(corp)
        run = sync.start_sync(actor=admin_actor, corp_pk=corp.pk, kind="contacts")
        assert sync.run(run.pk, org_id=org.pk).status == "done"
        return corp

    return make


@pytest.fixture
def run_due(settings):
    """Run what is due (plan, sends), then bring the next round of result collection forward and run it: one
    call is one round, as if its 60 s had passed."""
    settings.SIYU_WECOM_BROADCAST_COLLECT_SECONDS = 60

    def run() -> None:
        scheduled.run_due()
        ScheduledAction.objects.filter(action="wecom.broadcast.collect", done_at__isnull=True,
                                       cancelled_at__isnull=True).update(due_at=clock.now())
        scheduled.run_due()

    return run


def sim_rows(sim, sql: str, *params):
    return [dict(r) for r in sim.store.all(sql, *params)]
