"""Approval notices reach the approver as a WeCom app message, end to end: a quote submitted for approval, the
engine's WeCom notifier (sales' approval wiring), the channel port's WeCom adapter mapping the Siyu user to the
corp member, and the simulator over real HTTP recording the ``message/send`` it received."""

from __future__ import annotations

from decimal import Decimal

import pytest

from siyu.channels.wecom import corps, sync
from siyu.channels.wecom.models import Employee
from siyu.channels.wecom.simulator import state
from siyu.channels.wecom.simulator.config import SimConfig
from siyu.channels.wecom.simulator.server import SimServer
from siyu.channels.wecom.simulator.store import Store
from siyu.kernel.actor import Actor
from siyu.platform.approvals import services as approvals
from siyu.sales.services.commerce import quotes

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(tmp_path):
    server = SimServer(store=Store(tmp_path / "sim.sqlite3"), port=0,
                       config=SimConfig(callback_timeout=0.5, retry_delays=(0.05,), tick_interval=0.1,
                                        dispatcher_threads=1)).start()  # fmt: skip
    yield server
    server.stop()


@pytest.fixture
def wecom_manager(team, sim):
    """A corp with its app (agent) connected; the east manager is the corp member 李娜 (lina)."""
    creds = state.create_corp(sim.store, name="测试企业", corp_id="wwapproval00001")
    state.add_employee(sim.store, creds.corp_id, userid="lina", name="李娜", department=[1])
    state.add_employee(sim.store, creds.corp_id, userid="zhangmin", name="张敏", department=[1])
    corp = corps.add_corp(actor=Actor.system(team.org.pk), data={
        "corp_id": creds.corp_id, "secret": creds.contact_secret, "callback_token": creds.token,
        "encoding_aes_key": creds.aes_key, "api_base": sim.api_base, "name": "测试企业",
        "agent_id": creds.agent_id, "agent_secret": creds.agent_secret})
    sync.sync_employees(corp)
    employees = Employee.objects.in_org(team.admin).filter(corp=corp)
    employees.filter(userid="lina").update(membership=team.manager)  # sync maps by mobile or e-mail (tested there)
    employees.filter(userid="zhangmin").update(membership=team.reps[0])
    return creds


def _sent(sim) -> list[tuple[str, str]]:
    with sim.store.tx() as db:
        return [tuple(row) for row in db.execute("SELECT touser, payload FROM app_messages ORDER BY created_at")]


def test_the_approver_gets_a_wecom_app_message_and_only_once(team, sim, wecom_manager,
                                                             django_capture_on_commit_callbacks):
    approvals.create_process(actor=team.admin, object_key="sales.quote", name="报价审批", conditions=[],
                             steps=[{"name": "经理", "mode": "any", "approvers": [{"kind": "manager"}]}])
    rep = team.actor(team.reps[0])
    quote = quotes.create_quote(actor=rep, data={"title": "年度订阅", "customer_name": "上海某某公司", "lines": [
        {"name": "席位", "quantity": "10", "unit_price": str(Decimal("100.00"))}]})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        quotes.submit_quote(actor=rep, quote_id=quote.pk, comment="请审批")
    assert callbacks, "the notifier sends after commit"
    sent = _sent(sim)
    assert [touser for touser, _ in sent] == ["lina"]  # the manager only, as their corp member id
    assert "Q-000001" in sent[0][1] and "年度订阅" in sent[0][1]  # which quote, in the approver's words
    # The same notice again (a retried job): the adapter's send-once ledger sends nothing more.
    for callback in callbacks:
        callback()
    assert [touser for touser, _ in _sent(sim)] == ["lina"]
