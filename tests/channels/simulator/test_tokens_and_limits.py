"""Access tokens, frequency and concurrency limits, the errmsg shape, driven by Siyu's real client over HTTP."""

import threading

import pytest

from siyu.channels.wecom import errors as e
from siyu.channels.wecom.simulator import state


def gettoken_count(sim):
    return sim.store.one("SELECT COUNT(*) FROM access_tokens")[0]


def test_token_issued_with_7200_seconds_and_reused(http, sim, corp, client):
    answer = http.get(
        sim.api_base + "gettoken", params={"corpid": corp.corp_id, "corpsecret": corp.contact_secret}
    )
    body = answer.json()
    assert answer.status_code == 200
    assert (body["errcode"], body["errmsg"], body["expires_in"]) == (0, "ok", 7200)
    assert len(body["access_token"]) <= 512
    assert client.get_follow_user_list()["follow_user"] == ["lisi", "wangwu", "zhangsan"]
    client.get_follow_user_list()
    assert gettoken_count(sim) == 2  # the raw call above, then one for the client


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"corpid": "wwnope", "corpsecret": "x"}, 40013),
        ({"corpid": "wwtest0000000001", "corpsecret": "wrong"}, 40001),
        ({"corpsecret": "x"}, 41002),
        ({"corpid": "wwtest0000000001"}, 41004),
    ],
)
def test_gettoken_refuses_bad_credentials(http, sim, corp, params, errcode):
    body = http.get(sim.api_base + "gettoken", params=params).json()
    assert body["errcode"] == errcode
    assert f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}" in body["errmsg"]
    assert ", hint: [" in body["errmsg"] and "from ip: 127.0.0.1" in body["errmsg"]
    assert gettoken_count(sim) == 0


def test_client_maps_bad_secret_to_config_error(make_client):
    client = make_client(secret="not-the-secret")
    with pytest.raises(e.WeComConfigError) as info:
        client.get_follow_user_list()
    assert info.value.errcode == 40001


def test_expired_token_mid_run_is_refreshed_once(http, sim, client):
    assert client.get_follow_user_list()["errcode"] == 0
    first = sim.store.one("SELECT token FROM access_tokens")["token"]
    sim.store.advance_clock(7201)  # the client's cache still holds the token; WeCom says 42001
    raw = http.get(
        sim.api_base + "externalcontact/get_follow_user_list", params={"access_token": first}
    ).json()
    assert raw["errcode"] == 42001
    assert client.get_follow_user_list()["follow_user"] == ["lisi", "wangwu", "zhangsan"]
    assert gettoken_count(sim) == 2  # exactly one refresh
    assert client.get_follow_user_list()["errcode"] == 0
    assert gettoken_count(sim) == 2


def test_short_token_ttl_is_announced(http, make_sim, corp, make_client):
    short = make_sim(token_ttl=3)
    state.create_corp(short.store, name="短", corp_id=corp.corp_id, contact_secret=corp.contact_secret)
    body = http.get(
        short.api_base + "gettoken", params={"corpid": corp.corp_id, "corpsecret": corp.contact_secret}
    ).json()
    assert body["expires_in"] == 3


@pytest.mark.parametrize(("token", "errcode"), [("", 41001), ("garbage", 40014)])
def test_missing_or_unknown_token(http, sim, corp, token, errcode):
    params = {"access_token": token} if token else {}
    body = http.get(sim.api_base + "externalcontact/get_follow_user_list", params=params).json()
    assert body["errcode"] == errcode


def test_token_in_the_body_is_not_a_token(http, sim, client):
    client.get_follow_user_list()
    token = sim.store.one("SELECT token FROM access_tokens")["token"]
    body = http.post(sim.api_base + "externalcontact/get_corp_tag_list", json={"access_token": token}).json()
    assert body["errcode"] == 41001


def test_a_token_of_another_kind_is_forbidden(sim, corp, make_client):
    contact_client = make_client()
    with pytest.raises(e.WeComConfigError) as info:  # message/send needs the app's secret
        contact_client.send_app_message(agentid=corp.agent_id, msgtype="text", payload={"content": "hi"},
                                        touser=["zhangsan"])  # fmt: skip
    assert info.value.errcode == 48002
    app = make_client(secret=corp.agent_secret)
    answer = app.send_app_message(agentid=corp.agent_id, msgtype="text", payload={"content": "早上好"},
                                  touser=["zhangsan", "ghost"])  # fmt: skip
    assert answer["invaliduser"] == "ghost"
    row = sim.store.one("SELECT * FROM app_messages")
    assert (row["touser"], row["msgtype"], row["payload"]) == ("zhangsan", "text", '{"content":"早上好"}')


def test_body_that_is_not_json(http, sim, client):
    client.get_follow_user_list()
    token = sim.store.one("SELECT token FROM access_tokens")["token"]
    body = http.post(sim.api_base + "externalcontact/get_corp_tag_list", params={"access_token": token},
                      content=b"{not json").json()  # fmt: skip
    assert body["errcode"] == 47001
    assert "Warning: wrong json format." in body["errmsg"]


def test_frequency_limit_answers_45009_and_the_client_gives_up_after_its_retries(
    make_sim, corp, make_client, sleeps
):
    limited = make_sim(path=None, corp_per_minute=3)
    state.create_corp(limited.store, name="限", corp_id="wwlimited", contact_secret="s1")
    state.add_employee(limited.store, "wwlimited", userid="u1", name="甲")
    client = make_client(server=limited, corp_id="wwlimited", secret="s1")
    for _ in range(3):
        assert client.get_follow_user_list()["follow_user"] == ["u1"]
    with pytest.raises(e.WeComRateLimited) as info:
        client.get_follow_user_list()
    assert info.value.errcode == 45009
    assert len(sleeps) == 3  # backed off three times, four attempts in all
    # another API has its own counter
    assert client.get_corp_tag_list()["tag_group"] == []
    limited.store.advance_clock(60)  # the next minute window
    assert client.get_follow_user_list()["follow_user"] == ["u1"]


def test_debug_flag_lowers_the_limit_to_five_a_minute(http, sim, client):
    client.get_follow_user_list()
    token = sim.store.one("SELECT token FROM access_tokens")["token"]
    codes = [http.get(sim.api_base + "externalcontact/get_follow_user_list",
                       params={"access_token": token, "debug": "1"}).json()["errcode"] for _ in range(6)]  # fmt: skip
    assert codes == [0, 0, 0, 0, 0, 45009]


def test_concurrency_limit_answers_45033(http, make_sim, corp):
    slow = make_sim(max_concurrency=1, api_latency=0.4)
    state.create_corp(slow.store, name="慢", corp_id="wwslow", contact_secret="s1")
    token = http.get(slow.api_base + "gettoken", params={"corpid": "wwslow", "corpsecret": "s1"}).json()[
        "access_token"
    ]
    codes = []

    def call():
        codes.append(http.get(slow.api_base + "externalcontact/get_follow_user_list",
                              params={"access_token": token}, timeout=5).json()["errcode"])  # fmt: skip

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(codes) == [0, 45033]


def test_injected_fault_is_answered_then_cleared(sim, corp, client, sleeps):
    state.add_fault(sim.store, api="externalcontact/get_follow_user_list", errcode=-1, times=2)
    assert client.get_follow_user_list()["errcode"] == 0  # busy twice, retried by the client
    assert len(sleeps) == 2


def test_api_path_without_cgi_bin_prefix_is_accepted(http, sim, corp):
    body = http.get(
        sim.url + "/gettoken", params={"corpid": corp.corp_id, "corpsecret": corp.contact_secret}
    ).json()
    assert body["errcode"] == 0


def test_organisation_endpoints(client):
    departments = client.department_list()["department"]
    assert [(d["id"], d["name"], d["parentid"]) for d in departments] == [
        (1, "测试企业", 0),
        (2, "销售部", 1),
    ]
    assert [d["id"] for d in client.department_list(department_id=2)["department"]] == [2]
    assert [u["userid"] for u in client.user_list(department_id=2)["userlist"]] == ["lisi", "zhangsan"]
    assert [u["userid"] for u in client.user_list(department_id=1, fetch_child=True)["userlist"]] == [
        "lisi", "nocontact", "wangwu", "zhangsan"]  # fmt: skip
    with pytest.raises(e.WeComError) as info:
        client.user_list(department_id=99)
    assert info.value.errcode == 60123
