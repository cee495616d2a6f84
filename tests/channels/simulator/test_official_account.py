"""The official account: token, parametric QR codes, follow events in safe mode, template messages, user info."""

import pytest

from siyu.channels.wecom.simulator import actions, state
from siyu.channels.wecom.simulator.errors import ActionError
from siyu.channels.wxcrypto import WXBizMsgCrypt, oa_signature


@pytest.fixture
def oa(sim, receiver):
    return state.create_oa(sim.store, name="服务号", appid="wxoa000000000001", callback_url=receiver.url)


@pytest.fixture
def oa_token(sim, oa, http):
    answer = http.get(sim.api_base + "token", params={"grant_type": "client_credential", "appid": oa.appid,
                                                      "secret": oa.secret}).json()  # fmt: skip
    assert set(answer) == {"access_token", "expires_in"}  # no errcode on success, as on the platform
    return answer["access_token"]


def post(http, sim, api, token, body):
    return http.post(sim.api_base + api, params={"access_token": token}, json=body).json()


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"grant_type": "client_credential", "appid": "wxnope", "secret": "x"}, 40013),
        ({"grant_type": "client_credential", "appid": "wxoa000000000001", "secret": "wrong"}, 40001),
        ({"grant_type": "password", "appid": "wxoa000000000001", "secret": "x"}, 40002),
    ],
)
def test_token_errors(sim, oa, http, params, errcode):
    assert http.get(sim.api_base + "token", params=params).json()["errcode"] == errcode


def test_follow_by_parametric_qr_then_scan_again(sim, oa, oa_token, receiver, http):
    qr = post(http, sim, "qrcode/create", oa_token,
              {"expire_seconds": 600, "action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "live-1"}}})  # fmt: skip
    assert qr["expire_seconds"] == 600 and qr["url"] == f"{sim.url}/sim/oa/qr/{qr['ticket']}"
    followed = actions.follow_oa(sim.sim, scene="live-1", name="关注者", unionid="oUnionOA")
    actions.follow_oa(sim.sim, ticket=qr["ticket"], unionid="oUnionOA")
    crypt = WXBizMsgCrypt(token=oa.token, encoding_aes_key=oa.aes_key, receive_id=oa.appid)
    requests = receiver.wait_for(2)
    events = []
    for request in requests:
        q = request.query
        assert set(q) == {"signature", "timestamp", "nonce", "openid", "encrypt_type", "msg_signature"}
        assert q["encrypt_type"] == "aes" and q["openid"] == followed["openid"]
        assert q["signature"] == oa_signature(token=oa.token, timestamp=q["timestamp"], nonce=q["nonce"])
        events.append(receiver.decrypt(request, crypt))
    subscribe = next(ev for ev in events if ev["Event"] == "subscribe")
    assert subscribe == {"ToUserName": oa.original_id, "FromUserName": followed["openid"],
                         "CreateTime": subscribe["CreateTime"], "MsgType": "event", "Event": "subscribe",
                         "EventKey": "qrscene_live-1", "Ticket": qr["ticket"]}  # fmt: skip
    scan = next(ev for ev in events if ev["Event"] == "SCAN")
    assert (scan["EventKey"], scan["Ticket"]) == ("live-1", qr["ticket"])
    info = http.get(
        sim.api_base + "user/info", params={"access_token": oa_token, "openid": followed["openid"]}
    ).json()
    assert (info["subscribe"], info["unionid"], info["subscribe_scene"], info["qr_scene_str"]) == (
        1, "oUnionOA", "ADD_SCENE_QR_CODE", "live-1")  # fmt: skip
    followers = http.get(sim.api_base + "user/get", params={"access_token": oa_token}).json()
    assert followers["data"]["openid"] == [followed["openid"]] and followers["total"] == 1


def test_expired_temporary_qr_cannot_be_scanned(sim, oa, oa_token, http):
    post(
        http,
        sim,
        "qrcode/create",
        oa_token,
        {"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 7}}},
    )
    sim.store.advance_clock(61)  # default validity 60 s
    with pytest.raises(ActionError, match="expired"):
        actions.follow_oa(sim.sim, scene="7", name="迟到")
    bad = post(
        http,
        sim,
        "qrcode/create",
        oa_token,
        {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100001}}},
    )
    assert bad["errcode"] == 40053


def test_template_message_needs_a_follower_and_reports_delivery(sim, oa, oa_token, receiver, http):
    followed = actions.follow_oa(sim.sim, name="收件人")
    body = {"touser": followed["openid"], "template_id": "tpl-1", "client_msg_id": "order-9",
            "data": {"first": {"value": "您好"}}}  # fmt: skip
    sent = post(http, sim, "message/template/send", oa_token, body)
    assert (sent["errcode"], sent["errmsg"]) == (0, "ok")
    assert post(http, sim, "message/template/send", oa_token, body)["msgid"] == sent["msgid"]  # client_msg_id
    crypt = WXBizMsgCrypt(token=oa.token, encoding_aes_key=oa.aes_key, receive_id=oa.appid)
    events = [receiver.decrypt(r, crypt) for r in receiver.wait_for(2)]
    finish = next(ev for ev in events if ev["Event"] == "TEMPLATESENDJOBFINISH")
    assert (finish["MsgID"], finish["Status"]) == (str(sent["msgid"]), "success")
    actions.unfollow_oa(sim.sim, openid=followed["openid"])
    assert (
        post(http, sim, "message/template/send", oa_token, {**body, "client_msg_id": ""})["errcode"] == 43004
    )
    assert (
        post(http, sim, "message/template/send", oa_token, {**body, "touser": "onobody"})["errcode"] == 40003
    )
    assert sim.store.one("SELECT COUNT(*) FROM oa_template_msgs")[0] == 1


def test_tokens_do_not_cross_between_wecom_and_the_official_account(sim, corp, oa, oa_token, http):
    wecom = http.get(
        sim.api_base + "gettoken", params={"corpid": corp.corp_id, "corpsecret": corp.contact_secret}
    ).json()
    assert http.get(sim.api_base + "externalcontact/get_follow_user_list",
                    params={"access_token": oa_token}).json()["errcode"] == 48002  # fmt: skip
    answer = post(
        http,
        sim,
        "message/template/send",
        wecom["access_token"],
        {"touser": "o", "template_id": "t", "data": {}},
    )
    assert answer["errcode"] == 48002
    # user/get is the follower list for the account, the member lookup for WeCom
    member = http.get(
        sim.api_base + "user/get", params={"access_token": wecom["access_token"], "userid": "zhangsan"}
    ).json()
    assert (member["errcode"], member["name"]) == (0, "张三")
