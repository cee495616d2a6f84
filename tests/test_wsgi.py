"""The WSGI application sends machine endpoints (WeCom/official-account callbacks, Segment ingestion) through a
short middleware chain and everything else through Django's full one; both answer as before."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory
from django.utils.module_loading import import_string

from siyu import wsgi
from siyu.channels.wecom import corps
from siyu.channels.wecom.models import CallbackLog
from siyu.channels.wecom.testing import AES_KEY, API_BASE, TOKEN, FakeWeCom, signed_post
from siyu.kernel.actor import Actor
from siyu.kernel.models import OutboxMessage


@dataclass
class Answer:
    status_code: int
    headers: dict[str, str]
    body: bytes


class WsgiClient:
    """Calls ``siyu.wsgi.application`` itself, as gunicorn does (Django's test Client builds its own handler
    from settings.MIDDLEWARE, so it would not see which chain the application picks)."""

    def _call(self, request) -> Answer:
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = int(status.split()[0]), dict(headers)

        # as Django's test client does: the test's transaction must survive the request signals
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            result = wsgi.application(request.environ, start_response)
            body = b"".join(result)
            getattr(result, "close", lambda: None)()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return Answer(captured["status"], captured["headers"], body)

    def post(self, url: str, data=b"", content_type="application/octet-stream", **extra) -> Answer:
        return self._call(RequestFactory().post(url, data=data, content_type=content_type, **extra))

    def get(self, url: str) -> Answer:
        return self._call(RequestFactory().get(url))


@pytest.fixture
def fake():
    f = FakeWeCom()
    f.add_employee("zhangsan", "张三")
    return f


@pytest.fixture
def corp(org, fake):
    return corps.add_corp(actor=Actor.system(org.pk), data={
        "corp_id": fake.corp_id, "secret": fake.secret, "callback_token": TOKEN, "encoding_aes_key": AES_KEY,
        "api_base": API_BASE})


def test_a_wecom_callback_through_the_machine_chain_is_stored_and_queued(corp, fake):
    answer = signed_post(WsgiClient(), corps.callback_path(corp), fake.scan(state="", external_userid="wmW"),
                         corp_id=corp.corp_id)
    assert answer.status_code == 200 and answer.body == b""
    assert CallbackLog.objects.count() == 1
    assert OutboxMessage.objects.filter(topic__contains="CallbackReceived").count() == 1
    # the security headers still apply; nothing of the session machinery runs
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in answer.headers
    assert "Cookie" not in answer.headers.get("Vary", "")
    assert not any(h.lower() == "set-cookie" for h in answer.headers)


def test_a_refused_callback_is_refused_the_same_way(corp):
    answer = WsgiClient().post(corps.callback_path(corp) + "?msg_signature=x&timestamp=1&nonce=2",
                               data=b"<xml><Encrypt>bm90</Encrypt></xml>", content_type="text/xml")
    assert answer.status_code in (400, 403)
    assert CallbackLog.objects.count() == 0


@pytest.mark.django_db
def test_console_pages_keep_the_full_chain():
    answer = WsgiClient().get("/login/")
    assert answer.status_code == 200
    assert "Cookie" in answer.headers.get("Vary", "")  # sessions/CSRF ran
    assert "Accept-Language" in answer.headers.get("Vary", "")  # so did the locale


@pytest.mark.django_db
def test_ingestion_goes_through_the_machine_chain_and_still_answers_its_errors():
    answer = WsgiClient().post("/v1/batch", data=b"{}", content_type="application/json")
    assert answer.status_code == 401
    assert "Cookie" not in answer.headers.get("Vary", "")


def test_the_machine_chain_has_only_middlewares_it_can_build():
    """MachineHandler wraps each middleware like Django does but installs no view, exception or template-response
    hooks: a middleware listed there must not need them."""
    for path in wsgi.MACHINE_MIDDLEWARE:
        cls = import_string(path)
        for hook in ("process_view", "process_exception", "process_template_response"):
            assert not hasattr(cls, hook), f"{path} has {hook}"
    assert set(wsgi.MACHINE_MIDDLEWARE) < set(__import__("django.conf").conf.settings.MIDDLEWARE)


def test_the_prefixes_pick_the_chain():
    picked = []
    app = wsgi.ByPath(lambda e, s: picked.append("full"), lambda e, s: picked.append("machine"))
    for path in ("/wecom/callback/abc/", "/oa/callback/x/", "/v1/track", "/console/", "/api/v1/cdp/profiles",
                 "/v1", "/wecom/callbacks/"):
        app({"PATH_INFO": path}, None)
    assert picked == ["machine", "machine", "machine", "full", "full", "full", "full"]


@pytest.mark.django_db
def test_a_host_not_in_allowed_hosts_is_refused_on_machine_paths_too():
    answer = WsgiClient().post("/v1/batch", data=b"{}", content_type="application/json", HTTP_HOST="evil.example")
    assert answer.status_code == 400
