"""Siyu against a real simulator over HTTP (as in ``../broadcasts/conftest.py``): the simulator in-process, a corp
connected with ``api_base`` pointing at it, employees and customers synced through the real client."""

from __future__ import annotations

import pytest

from siyu.channels.wecom import corps, sync
from siyu.channels.wecom.simulator import seed, state
from siyu.channels.wecom.simulator.config import SimConfig
from siyu.channels.wecom.simulator.server import SimServer
from siyu.channels.wecom.simulator.store import Store
from siyu.kernel.actor import Actor


@pytest.fixture
def sim(tmp_path):
    server = SimServer(store=Store(tmp_path / "sim.sqlite3"), port=0,
                       config=SimConfig(callback_timeout=0.5, retry_delays=(0.05,), tick_interval=0.1,
                                        dispatcher_threads=1)).start()
    yield server
    server.stop()


@pytest.fixture
def sim_corp(sim):
    creds = state.create_corp(sim.store, name="测试企业", corp_id="wwarchive000001")
    state.add_employee(sim.store, creds.corp_id, userid="zhangsan", name="张三", department=[1])
    return creds


@pytest.fixture
def corp(org, admin_actor, sim, sim_corp):
    """Three customers of 张三 in the simulator, synced into Siyu (profiles created by the sync)."""
    seed.populate(sim.sim, corp_id=sim_corp.corp_id, customers=3)
    corp = corps.add_corp(actor=Actor.system(org.pk), data={
        "corp_id": sim_corp.corp_id, "secret": sim_corp.contact_secret, "callback_token": sim_corp.token,
        "encoding_aes_key": sim_corp.aes_key, "api_base": sim.api_base, "name": "测试企业"})
    sync.sync_employees(corp)
    run = sync.start_sync(actor=admin_actor, corp_pk=corp.pk, kind="contacts")
    assert sync.run(run.pk, org_id=org.pk).status == "done"
    return corp
