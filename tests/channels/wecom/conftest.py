"""Shared fixtures of the WeCom channel tests: the fake WeCom API behind respx, a connected corp, the outbox drain.

A test module overrides ``fake`` to shape the corp (employees, tags) it needs."""

from __future__ import annotations

import pytest
import respx

from siyu.channels.wecom import corps, sync, tags
from siyu.channels.wecom.testing import AES_KEY, API_BASE, TOKEN, FakeWeCom
from siyu.kernel import outbox
from siyu.kernel.actor import Actor


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    """The client's retry backoff does not sleep in tests."""
    monkeypatch.setattr(corps, "client_options", {"sleep": lambda s: None})


@pytest.fixture
def fake():
    f = FakeWeCom()
    f.add_employee("zhangsan", "张三")
    f.add_employee("lisi", "李四")
    return f


@pytest.fixture
def api(fake):
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="wecom.test").mock(side_effect=fake.handle)
        yield mock


@pytest.fixture
def connect(org, fake, api):
    """Connect the fake corp to ``org`` (and, by default, sync its employees and corp tags)."""

    def make(*, employees: bool = True, corp_tags: bool = True, **data):
        corp = corps.add_corp(actor=Actor.system(org.pk), data={
            "corp_id": fake.corp_id, "secret": fake.secret, "callback_token": TOKEN, "encoding_aes_key": AES_KEY,
            "api_base": API_BASE, "name": "示例企业", **data})
        if employees:
            sync.sync_employees(corp)
        if corp_tags:
            tags.pull_corp_tags(corp)
        return corp

    return make


@pytest.fixture
def drain():
    """Deliver every pending outbox message (callbacks are processed there)."""

    def run() -> None:
        while outbox.dispatch_pending():
            pass

    return run
