"""The WeCom client against respx: tokens, refresh-once, retries, error mapping, validation, redaction.

The client under test has a private token store and limiter and records backoff sleeps instead of sleeping.
"""

import json
import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx

from siyu.channels.errors import ChannelRateLimited, ChannelValidationError
from siyu.channels.ratelimit import TokenBucketLimiter
from siyu.channels.tokens import InMemoryTokenStore
from siyu.channels.wecom import errors as e
from siyu.channels.wecom.client import RetryPolicy, WeComClient

API = "http://wecom.test/cgi-bin/"
CORP = "ww5823bf96d3bd56c7"
SECRET = "S3cr3t-customer-contact-xyz"


def ok(**fields):
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", **fields})


def err(code, msg="error"):
    return httpx.Response(200, json={"errcode": code, "errmsg": msg})


def token(value, expires_in=7200):
    return ok(access_token=value, expires_in=expires_in)


@pytest.fixture
def wecom():
    with respx.mock(base_url=API, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def store():
    return InMemoryTokenStore()


@pytest.fixture
def make_client(store, sleeps):
    def make(**kw):
        kw.setdefault("corp_id", CORP)
        kw.setdefault("secret", SECRET)
        kw.setdefault("api_base", API)
        kw.setdefault("token_store", store)
        kw.setdefault("rate_limiter", TokenBucketLimiter(rate=1000, capacity=1000))
        kw.setdefault("retry", RetryPolicy(initial_wait=0.5, max_wait=8, jitter=0))
        kw.setdefault("sleep", sleeps.append)
        return WeComClient(**kw)

    return make


@pytest.fixture
def client(make_client):
    return make_client()


# --- access tokens --------------------------------------------------------------------------------------


def test_token_is_fetched_once_and_sent_in_the_query(wecom, client):
    gettoken = wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.get("externalcontact/list").mock(return_value=ok(external_userid=["wo1", "wo2"]))
    assert client.list_external_contacts(userid="zhangsan")["external_userid"] == ["wo1", "wo2"]
    client.list_external_contacts(userid="lisi")
    assert gettoken.call_count == 1
    assert gettoken.calls[0].request.url.params["corpid"] == CORP
    assert gettoken.calls[0].request.url.params["corpsecret"] == SECRET
    params = [dict(c.request.url.params) for c in route.calls]
    assert params == [{"userid": "zhangsan", "access_token": "T1"}, {"userid": "lisi", "access_token": "T1"}]


def test_token_is_shared_by_clients_of_the_same_corp_and_secret(wecom, make_client):
    gettoken = wecom.get("gettoken").mock(side_effect=[token("T1"), token("T-other-secret")])
    wecom.post("externalcontact/get_corp_tag_list").mock(return_value=ok(tag_group=[]))
    make_client().get_corp_tag_list()
    make_client().get_corp_tag_list()
    assert gettoken.call_count == 1
    make_client(secret="another-app-secret").get_corp_tag_list()  # each secret has its own token
    assert gettoken.call_count == 2


@pytest.mark.parametrize("code", [40014, 42001, 42009])
def test_refused_token_is_refreshed_once_and_the_call_repeated(wecom, client, code):
    gettoken = wecom.get("gettoken").mock(side_effect=[token("T1"), token("T2")])
    route = wecom.post("externalcontact/get_contact_way").mock(
        side_effect=[
            err(code, "access_token expired"),
            ok(contact_way={"config_id": "c1"}),
            ok(contact_way={}),
        ]
    )
    assert client.get_contact_way(config_id="c1")["contact_way"] == {"config_id": "c1"}
    assert gettoken.call_count == 2
    assert [c.request.url.params["access_token"] for c in route.calls] == ["T1", "T2"]
    client.get_contact_way(config_id="c1")
    assert gettoken.call_count == 2  # the new token is cached
    assert route.calls[-1].request.url.params["access_token"] == "T2"


def test_a_fresh_token_refused_again_is_not_refreshed_in_a_loop(wecom, client):
    gettoken = wecom.get("gettoken").mock(side_effect=[token("T1"), token("T2"), token("T3")])
    route = wecom.post("externalcontact/get_contact_way").mock(return_value=err(42001))
    with pytest.raises(e.WeComTokenInvalid) as exc:
        client.get_contact_way(config_id="c1")
    assert exc.value.errcode == 42001 and exc.value.api == "externalcontact/get_contact_way"
    assert gettoken.call_count == 2 and route.call_count == 2


def test_wrong_secret_is_a_config_error_and_calls_nothing_else(wecom, client):
    wecom.get("gettoken").mock(return_value=err(40001, "invalid credential"))
    route = wecom.get("externalcontact/list")
    with pytest.raises(e.WeComConfigError) as exc:
        client.list_external_contacts(userid="zhangsan")
    assert exc.value.errcode == 40001 and exc.value.retryable is False
    assert route.call_count == 0


def test_api_base_points_the_client_elsewhere(make_client):
    with respx.mock(base_url="http://127.0.0.1:9/sim/cgi-bin/", assert_all_called=True) as sim:
        sim.get("gettoken").mock(return_value=token("SIM"))
        sim.get("department/list").mock(return_value=ok(department=[{"id": 1, "name": "HQ", "parentid": 0}]))
        client = make_client(api_base="http://127.0.0.1:9/sim/cgi-bin")
        assert client.department_list()["department"][0]["name"] == "HQ"


# --- retries --------------------------------------------------------------------------------------------


def test_busy_is_retried_with_backoff(wecom, client, sleeps):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.post("externalcontact/groupchat/get").mock(
        side_effect=[err(-1), err(-1), ok(group_chat={"chat_id": "wr1"})]
    )
    assert client.groupchat_get(chat_id="wr1")["group_chat"]["chat_id"] == "wr1"
    assert route.call_count == 3
    assert sleeps == [0.5, 1.0]  # exponential (jitter off in the fixture)


def test_busy_gives_up_after_three_retries(wecom, client, sleeps):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.post("externalcontact/groupchat/get").mock(return_value=err(-1, "system busy"))
    with pytest.raises(e.WeComBusy) as exc:
        client.groupchat_get(chat_id="wr1")
    assert route.call_count == 4 and len(sleeps) == 3
    assert exc.value.retryable is True


@pytest.mark.parametrize("code", [45009, 45033])
def test_rate_limit_codes_are_retried_then_surface_with_retry_after(wecom, client, code):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.post("externalcontact/batch/get_by_user").mock(return_value=err(code))
    with pytest.raises(e.WeComRateLimited) as exc:
        client.batch_get_by_user(userid_list=["zhangsan"])
    assert route.call_count == 4
    assert isinstance(exc.value, ChannelRateLimited) and exc.value.retry_after == 60


def test_welcome_code_already_used_is_never_retried(wecom, client, sleeps):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.post("externalcontact/send_welcome_msg").mock(return_value=err(41051))
    with pytest.raises(e.WelcomeCodeUsed) as exc:
        client.send_welcome_msg(welcome_code="WELCOMECODE", text={"content": "欢迎"})
    assert route.call_count == 1 and sleeps == []
    assert exc.value.retryable is False


def test_welcome_code_being_sent_by_another_app_is_retried(wecom, client):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.post("externalcontact/send_welcome_msg").mock(side_effect=[err(41096), ok()])
    client.send_welcome_msg(
        welcome_code="WELCOMECODE",
        text={"content": "欢迎"},
        attachments=[{"msgtype": "link", "link": {"title": "官网", "url": "https://example.com"}}],
    )
    assert route.call_count == 2
    assert route.calls[0].request.content == route.calls[1].request.content  # the same body


def test_broadcast_still_dispatching_is_left_to_the_caller(wecom, client):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.post("externalcontact/get_groupmsg_send_result").mock(return_value=err(41063))
    with pytest.raises(e.WeComRetryLater) as exc:
        client.get_groupmsg_send_result(msgid="msg1", userid="zhangsan")
    assert route.call_count == 1 and exc.value.retryable is True


def test_connection_refused_is_retried_even_for_a_write(wecom, client):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.post("externalcontact/add_msg_template").mock(
        side_effect=[httpx.ConnectError("refused"), ok(msgid="m1", fail_list=[])]
    )
    assert (
        client.add_msg_template(external_userid=["wo1"], sender="zhangsan", text={"content": "hi"})["msgid"]
        == "m1"
    )
    assert route.call_count == 2


def test_a_write_that_may_have_been_applied_is_not_repeated(wecom, client):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.post("externalcontact/add_msg_template").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(e.WeComTransportError) as exc:
        client.add_msg_template(external_userid=["wo1"], text={"content": "hi"})
    assert route.call_count == 1
    assert exc.value.maybe_applied is True and exc.value.retryable is True


def test_a_read_that_timed_out_is_retried(wecom, client):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.get("externalcontact/get").mock(
        side_effect=[httpx.ReadTimeout("slow"), ok(external_contact={})]
    )
    client.get_external_contact(external_userid="wo1")
    assert route.call_count == 2


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, text="<html>"),
        httpx.Response(200, json=[]),
    ],
)
def test_unusable_answers_are_transport_errors(wecom, client, response):
    wecom.get("gettoken").mock(return_value=token("T1"))
    wecom.post("externalcontact/del_contact_way").mock(return_value=response)
    with pytest.raises(e.WeComTransportError):
        client.del_contact_way(config_id="c1")


# --- error mapping --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (-1, e.WeComBusy),
        (40001, e.WeComConfigError),
        (40003, e.WeComInvalidRequest),
        (40013, e.WeComConfigError),
        (40014, e.WeComTokenInvalid),
        (41001, e.WeComConfigError),
        (40058, e.WeComInvalidRequest),
        (40096, e.WeComInvalidRequest),
        (40130, e.WeComInvalidRequest),
        (41037, e.WeComInvalidRequest),
        (41045, e.WeComInvalidRequest),
        (41050, e.WeComInvalidRequest),
        (41051, e.WelcomeCodeUsed),
        (41053, e.WeComNotAgreed),
        (41063, e.WeComRetryLater),
        (41096, e.WelcomeCodeBusy),
        (42001, e.WeComTokenInvalid),
        (42009, e.WeComTokenInvalid),
        (45009, e.WeComRateLimited),
        (45033, e.WeComRateLimited),
        (48002, e.WeComConfigError),
        (60011, e.WeComConfigError),
        (60020, e.WeComConfigError),
        (81017, e.WeComInvalidRequest),
        (84061, e.WeComNotFriend),
        (84074, e.WeComConfigError),
        (90505, e.WeComInvalidRequest),
        (12345, e.WeComError),
    ],
)
def test_errcode_table(code, kind):
    error = e.error_for(code, "msg", api="x")
    assert type(error) is kind and error.errcode == code and error.channel_code == code


def test_not_a_friend_is_a_recipient_failure(wecom, client):
    from siyu.channels.errors import RecipientUnreachable

    wecom.get("gettoken").mock(return_value=token("T1"))
    wecom.post("externalcontact/mark_tag").mock(return_value=err(84061))
    with pytest.raises(RecipientUnreachable):
        client.mark_tag(userid="zhangsan", external_userid="wo1", add_tag=["et1"])


# --- validation before sending --------------------------------------------------------------------------


def invalid(fn, **kw):
    with pytest.raises(ChannelValidationError) as exc:
        fn(**kw)
    return exc.value.fields


def test_request_limits_are_checked_before_anything_is_sent(wecom, client):
    everything = wecom.route()  # any request at all would be recorded here
    assert invalid(client.add_contact_way, type=1, scene=2, state="s" * 31, user=["zhangsan"]) == {
        "state": ["max_30_chars"]
    }
    assert invalid(client.add_contact_way, type=3, scene=2, user=[]) == {"type": ["invalid_choice"]}
    assert invalid(client.add_contact_way, type=1, scene=2, user=["a", "b"], party=[1]) == {
        "user": ["max_1_items"],
        "party": ["single_contact_way_has_no_party"],
    }
    assert invalid(client.update_contact_way, config_id="c1", state="x" * 31, type=2) == {
        "type": ["not_updatable"],
        "state": ["max_30_chars"],
    }
    assert invalid(client.batch_get_by_user, userid_list=[f"u{i}" for i in range(101)], limit=0) == {
        "userid_list": ["max_100_items"],
        "limit": ["between_1_100"],
    }
    assert invalid(client.send_welcome_msg, welcome_code="c", text={"content": "字" * 1334}) == {
        "text": ["max_4000_bytes"]  # 1334 × 3 bytes = 4002
    }
    ten = [{"msgtype": "image", "image": {"media_id": str(i)}} for i in range(10)]
    assert invalid(client.add_msg_template, external_userid=["wo1"], attachments=ten) == {
        "attachments": ["max_9_items"]
    }
    assert invalid(
        client.add_msg_template, chat_type="group", chat_id_list=["wr1"], text={"content": "x"}
    ) == {"sender": ["required"]}
    assert invalid(client.mark_tag, userid="u", external_userid="wo1") == {
        "add_tag": ["add_or_remove_required"]
    }
    assert invalid(client.add_corp_tag, tags=[{"name": "t" * 31}]) == {
        "group_name": ["group_id_or_group_name_required"],
        "tag.name": ["max_30_chars"],
    }
    assert invalid(
        client.transfer_customer,
        handover_userid="a",
        takeover_userid="a",
        external_userid=[],
        transfer_success_msg="m" * 201,
    ) == {
        "external_userid": ["min_1_items"],
        "transfer_success_msg": ["max_200_chars"],
        "takeover_userid": ["same_as_handover"],
    }
    assert invalid(client.groupchat_list, limit=1001, owner_userids=[str(i) for i in range(101)]) == {
        "owner_filter.userid_list": ["max_100_items"],
        "limit": ["between_1_1000"],
    }
    assert invalid(client.send_app_message, agentid=1000002, msgtype="text", payload={"content": "x"}) == {
        "touser": ["required"]
    }
    assert everything.call_count == 0


def test_a_valid_contact_way_is_sent_as_documented(wecom, client):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.post("externalcontact/add_contact_way").mock(
        return_value=ok(config_id="c1", qr_code="https://qr")
    )
    state = "s" * 30
    assert client.add_contact_way(type=1, scene=2, state=state, user=["zhangsan"])["config_id"] == "c1"
    assert json.loads(route.calls[0].request.content) == {
        "type": 1, "scene": 2, "state": state, "user": ["zhangsan"], "party": [], "skip_verify": True,
    }  # fmt: skip


# --- paging ---------------------------------------------------------------------------------------------


def test_batch_get_by_user_follows_the_cursor(wecom, client):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.post("externalcontact/batch/get_by_user").mock(
        side_effect=[
            ok(external_contact_list=[{"external_contact": {"external_userid": "wo1"}}], next_cursor="C2"),
            ok(external_contact_list=[{"external_contact": {"external_userid": "wo2"}}], next_cursor=""),
        ]
    )
    pages = list(client.iter_batch_get_by_user(userid_list=["zhangsan", "lisi"], limit=1))
    ids = [c["external_contact"]["external_userid"] for p in pages for c in p["external_contact_list"]]
    assert ids == ["wo1", "wo2"]
    assert [json.loads(c.request.content)["cursor"] for c in route.calls] == ["", "C2"]
    assert json.loads(route.calls[0].request.content)["userid_list"] == ["zhangsan", "lisi"]


# --- rate limiting --------------------------------------------------------------------------------------


def test_client_side_limiter_refuses_without_calling_wecom(wecom, make_client):
    wecom.get("gettoken").mock(return_value=token("T1"))
    route = wecom.get("externalcontact/get").mock(return_value=ok(external_contact={}))
    limiter = TokenBucketLimiter(rate=0.01, capacity=2, max_wait=0)
    client = make_client(rate_limiter=limiter)
    client.get_external_contact(external_userid="wo1")  # gettoken took one token of its own bucket
    client.get_external_contact(external_userid="wo2")
    with pytest.raises(ChannelRateLimited) as exc:
        client.get_external_contact(external_userid="wo3")
    assert route.call_count == 2
    assert exc.value.retry_after == pytest.approx(100, rel=0.01)  # one token at 0.01/s
    # another API of the same corp has its own budget
    wecom.post("externalcontact/get_corp_tag_list").mock(return_value=ok(tag_group=[]))
    client.get_corp_tag_list()


def test_client_side_limiter_is_per_corp(wecom, make_client):
    wecom.get("gettoken").mock(return_value=token("T1"))
    wecom.get("externalcontact/get").mock(return_value=ok(external_contact={}))
    limiter = TokenBucketLimiter(rate=0.01, capacity=1, max_wait=0)
    make_client(rate_limiter=limiter).get_external_contact(external_userid="wo1")
    make_client(rate_limiter=limiter, corp_id="ww-other").get_external_contact(external_userid="wo1")
    with pytest.raises(ChannelRateLimited):
        make_client(rate_limiter=limiter).get_external_contact(external_userid="wo1")


# --- secrets never leak ---------------------------------------------------------------------------------


def test_no_secret_or_token_in_logs_or_exceptions(wecom, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(retry=RetryPolicy(attempts=2, initial_wait=0, max_wait=0, jitter=0))
    wecom.get("gettoken").mock(side_effect=[token("TOKEN-AAAA-1111"), token("TOKEN-BBBB-2222")])
    wecom.post("externalcontact/get_contact_way").mock(
        side_effect=[
            err(42001),
            err(-1),
            err(40058, f"invalid param, access_token=TOKEN-BBBB-2222 secret {SECRET}"),
        ]
    )
    with pytest.raises(e.WeComInvalidRequest) as exc:
        client.get_contact_way(config_id="c1")
    wecom.post("externalcontact/add_msg_template").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(e.WeComTransportError) as exc2:
        client.add_msg_template(external_userid=["wo1"], text={"content": "x"})

    texts = [
        caplog.text,
        str(exc.value),
        repr(exc.value),
        repr(exc.value.args),
        str(exc2.value),
        repr(client),
    ]
    for text in texts:
        for secret in (SECRET, "TOKEN-AAAA-1111", "TOKEN-BBBB-2222"):
            assert secret not in text
    assert "access_token=***" in caplog.text  # httpx's own request log line, redacted
    assert "corpsecret=***" in caplog.text
    assert "externalcontact/get_contact_way" in caplog.text  # the log still says what happened
    assert "errcode -1" in caplog.text


def test_module_imports_without_django_settings():
    code = "import siyu.channels.wecom.client, siyu.channels.tokens, siyu.channels.wxcrypto, siyu.channels.ports"
    src = str(Path(__file__).resolve().parents[3] / "src")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": src}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
