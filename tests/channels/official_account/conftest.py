"""Fixtures: Siyu served over real HTTP (``live_server``), the simulator in-process on a free loopback port with an
official account whose callbacks go to Siyu, and the account connected in Siyu.

The simulator's own delivery code posts the signed, encrypted callbacks to the live server — called from the test
thread (``deliver()``) instead of its background threads, because the SQLite test database is one in-memory
connection the live server shares with the test thread: two threads must never use it at once. The test thread
then drains the outbox (what the worker does), so processing runs as in production: from the stored body, once."""

from __future__ import annotations

import time

import httpx
import pytest

from siyu.channels.official_account import accounts
from siyu.channels.official_account.models import CallbackLog
from siyu.channels.wecom.simulator import state
from siyu.channels.wecom.simulator.config import SimConfig
from siyu.channels.wecom.simulator.server import SimServer
from siyu.channels.wecom.simulator.store import Store
from siyu.kernel import outbox
from siyu.kernel.actor import Actor

# The first request warms the live server up (URLconf, API schema): on a loaded machine that passes 5 s.
FAST = dict(callback_timeout=60.0, retry_delays=(0.2, 0.2, 0.2), tick_interval=0.1, dispatcher_threads=2)


def wait_until(predicate, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(accounts, "client_options", {"sleep": lambda s: None})


@pytest.fixture
def sim(tmp_path):
    server = SimServer(store=Store(tmp_path / "sim.sqlite3"), config=SimConfig(**FAST), port=0).start()
    server.dispatcher.stop()  # callbacks are posted by ``deliver()`` from the test thread
    yield server
    server.stop()


@pytest.fixture
def sim_oa(sim):
    return state.create_oa(sim.store, name="示例服务号")


@pytest.fixture
def account(org, sim, sim_oa, live_server):
    """The simulator's account connected to ``org``; the simulator posts its callbacks to the live server."""
    acc = accounts.add_account(actor=Actor.system(org.pk), data={
        "appid": sim_oa.appid, "secret": sim_oa.secret, "callback_token": sim_oa.token,
        "encoding_aes_key": sim_oa.aes_key, "api_base": sim.api_base, "name": "示例服务号",
        "template_id": "TPL-notice", "template_field": "content"})  # fmt: skip
    state.set_oa_callback_url(sim.store, sim_oa.appid, accounts.callback_url(acc, live_server.url))
    return acc


@pytest.fixture
def drain():
    """Deliver every pending outbox message (callbacks are processed there)."""

    def run() -> None:
        while outbox.dispatch_pending():
            pass

    return run


@pytest.fixture
def logs(org):
    def read():
        return list(CallbackLog.objects.in_org(Actor.system(org.pk)).order_by("pk"))

    return read


@pytest.fixture
def deliver(sim):
    """``deliver()``: post every due callback the simulator queued, in order, and return the rows delivered."""
    dispatcher = sim.dispatcher

    def run() -> list:
        done = []
        with httpx.Client(timeout=FAST["callback_timeout"]) as http:
            while (row := dispatcher._claim()) is not None:
                dispatcher._deliver(http, row)
                done.append(sim.store.conn().execute("SELECT * FROM deliveries WHERE id = ?", (row["id"],)).fetchone())
        return done

    return run
