"""Fixtures: the simulator in-process on a free loopback port, a tiny callback receiver, Siyu's real client.

Everything binds 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from siyu.channels.ratelimit import TokenBucketLimiter
from siyu.channels.tokens import InMemoryTokenStore
from siyu.channels.wecom.client import RetryPolicy, WeComClient
from siyu.channels.wecom.simulator import state
from siyu.channels.wecom.simulator.config import SimConfig
from siyu.channels.wecom.simulator.delivery import tls_context
from siyu.channels.wecom.simulator.server import SimServer
from siyu.channels.wecom.simulator.store import Store
from siyu.channels.wxcrypto import WXBizMsgCrypt, parse_xml


def wait_until(predicate, timeout=5.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Records every request; ``script`` holds per-request behaviours (an HTTP status, or seconds to stall)."""

    requests: list[Received] = field(default_factory=list)
    script: list[int | float] = field(default_factory=list)
    default: int = 200
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/wecom/callback/k1/"

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        wait_until(lambda: len(self.requests) >= n, timeout)
        return list(self.requests)

    def decrypt(self, request: Received, crypt: WXBizMsgCrypt) -> dict[str, str]:
        plain = crypt.decrypt_message(msg_signature=request.query["msg_signature"], timestamp=request.query["timestamp"],
                                      nonce=request.query["nonce"], body=request.body)  # fmt: skip
        return parse_xml(plain)


@pytest.fixture
def receiver():
    rec = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # URL verification: answers 200 with an empty body (not the echostr)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            with lock:
                rec.requests.append(Received("POST", parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                                             body, time.monotonic()))  # fmt: skip
                behaviour = rec.script.pop(0) if rec.script else rec.default
            if isinstance(behaviour, float):
                time.sleep(behaviour)
                behaviour = 200
            try:
                self.send_response(behaviour)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:  # the simulator gave up waiting and closed the connection
                pass

    rec.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.server.daemon_threads = True
    thread = threading.Thread(target=rec.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


FAST = dict(callback_timeout=0.5, retry_delays=(0.05, 0.05, 0.05), tick_interval=0.1, dispatcher_threads=2)


@pytest.fixture
def make_sim(tmp_path):
    servers = []

    def make(path=None, **config):
        server = SimServer(store=Store(path or tmp_path / f"sim{len(servers)}.sqlite3"), config=SimConfig(**{**FAST, **config}),
                           port=0)  # fmt: skip
        servers.append(server.start())
        return server

    yield make
    for server in servers:
        if server._threads:
            server.stop()


@pytest.fixture
def sim(make_sim):
    return make_sim()


@pytest.fixture
def corp(sim, receiver):
    creds = state.create_corp(
        sim.store, name="测试企业", corp_id="wwtest0000000001", callback_url=receiver.url
    )
    state.add_department(sim.store, creds.corp_id, dept_id=2, name="销售部")
    state.add_employee(sim.store, creds.corp_id, userid="zhangsan", name="张三", department=[2])
    state.add_employee(sim.store, creds.corp_id, userid="lisi", name="李四", department=[2])
    state.add_employee(sim.store, creds.corp_id, userid="wangwu", name="王五", department=[1])
    state.add_employee(sim.store, creds.corp_id, userid="nocontact", name="无权限", contact_enabled=False)
    return creds


@pytest.fixture
def crypt(corp):
    return WXBizMsgCrypt(token=corp.token, encoding_aes_key=corp.aes_key, receive_id=corp.corp_id)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(sim, corp, sleeps):
    def make(secret=None, server=None, corp_id=None, **kw):
        server = server or sim
        kw.setdefault("token_store", InMemoryTokenStore())
        kw.setdefault("rate_limiter", TokenBucketLimiter(rate=1000, capacity=1000))
        kw.setdefault("retry", RetryPolicy(initial_wait=0.5, max_wait=8, jitter=0))
        kw.setdefault("http", httpx.Client(timeout=10, verify=tls_context()))
        return WeComClient(corp_id=corp_id or corp.corp_id, secret=secret or corp.contact_secret, api_base=server.api_base,
                           sleep=sleeps.append, **kw)  # fmt: skip

    return make


@pytest.fixture
def client(make_client):
    c = make_client()
    yield c
    c.close()


@pytest.fixture(scope="session")
def http():
    """One HTTP client for raw calls (a new httpx client per call costs ~0.1 s)."""
    with httpx.Client(timeout=10, verify=tls_context()) as c:
        yield c


@pytest.fixture
def wait():
    """``wait(predicate, timeout=5)``: poll until truthy (bounded)."""
    return wait_until
