"""Client-side actions → signed, encrypted callbacks at a receiver; retries with the identical request; and no
callback for anything Siyu did through the API."""

import time

import pytest

from siyu.channels.errors import SignatureInvalid
from siyu.channels.wecom.simulator import actions, state
from siyu.channels.wxcrypto import WXBizMsgCrypt, parse_xml


@pytest.fixture
def live_code(client):
    return client.add_contact_way(type=1, scene=2, state="live-code-42", user=["zhangsan"], remark="展会")


def scan(sim, **kw):
    kw.setdefault("state", "live-code-42")
    kw.setdefault("name", "王小明")
    return actions.scan(sim.sim, **kw)


def finished(wait, sim, delivery_id):
    return wait(lambda: (row := sim.store.one("SELECT * FROM deliveries WHERE id = ?", delivery_id))
                      and row["status"] in ("delivered", "failed") and row)  # fmt: skip


def test_scan_sends_one_signed_encrypted_add_event(wait, sim, corp, crypt, receiver, client, live_code):
    result = scan(sim, unionid="oUnion123")
    [request] = receiver.wait_for(1)
    assert request.path == "/wecom/callback/k1/"
    assert set(request.query) == {"msg_signature", "timestamp", "nonce"}
    envelope = parse_xml(request.body)
    assert envelope["ToUserName"] == corp.corp_id
    assert envelope["AgentID"] == str(corp.agent_id)
    event = receiver.decrypt(request, crypt)  # checks msg_signature and the receive id (CorpID)
    assert event == {
        "ToUserName": corp.corp_id,
        "FromUserName": "sys",
        "CreateTime": event["CreateTime"],
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": "add_external_contact",
        "UserID": "zhangsan",
        "ExternalUserID": result["external_userid"],
        "State": "live-code-42",
        "WelcomeCode": result["welcome_code"],
    }
    assert abs(int(event["CreateTime"]) - time.time()) < 5
    assert request.query["timestamp"] == event["CreateTime"]
    # another corp's key or id cannot read it
    other = WXBizMsgCrypt(token="other", encoding_aes_key=corp.aes_key, receive_id=corp.corp_id)
    with pytest.raises(SignatureInvalid):
        receiver.decrypt(request, other)
    # the API agrees with the event
    got = client.get_external_contact(external_userid=result["external_userid"])
    assert got["external_contact"]["name"] == "王小明"
    assert got["external_contact"]["unionid"] == "oUnion123"
    [follow] = got["follow_user"]
    assert (follow["userid"], follow["state"], follow["add_way"], follow["tags"]) == (
        "zhangsan",
        "live-code-42",
        1,
        [],
    )
    assert client.list_external_contacts(userid="zhangsan")["external_userid"] == [result["external_userid"]]
    assert finished(wait, sim, result["delivery"])["attempts"] == 1


def test_same_wechat_user_has_one_external_userid_per_corp(sim, corp, receiver, client, live_code):
    first = scan(sim, unionid="oSame")
    again = scan(sim, unionid="oSame", name="王小明")
    assert again["external_userid"] == first["external_userid"]
    assert again["event"] is None  # already friends: nothing happens, no callback
    receiver.wait_for(1)
    time.sleep(0.2)
    assert len(receiver.requests) == 1


def test_welcome_code_once_within_20_seconds(sim, corp, client, live_code):
    from siyu.channels.wecom import errors as e

    code = scan(sim)["welcome_code"]
    assert client.send_welcome_msg(welcome_code=code, text={"content": "欢迎！"})["errcode"] == 0
    with pytest.raises(e.WelcomeCodeUsed):
        client.send_welcome_msg(welcome_code=code, text={"content": "again"})
    late = scan(sim, name="迟到")["welcome_code"]
    sim.store.advance_clock(21)
    with pytest.raises(e.WelcomeCodeUsed) as info:
        client.send_welcome_msg(welcome_code=late, text={"content": "欢迎"})
    assert info.value.errcode == 41051
    chatted = scan(sim, name="先聊天")
    actions.message(sim.sim, corp_id=corp.corp_id, external_userid=chatted["external_userid"], text="在吗")
    with pytest.raises(e.WelcomeCodeUsed):  # the chat already started
        client.send_welcome_msg(welcome_code=chatted["welcome_code"], text={"content": "欢迎"})
    with pytest.raises(e.WeComInvalidRequest) as info:
        client.send_welcome_msg(welcome_code="no-such-code", text={"content": "欢迎"})
    assert info.value.errcode == 41050
    welcome = sim.store.all("SELECT * FROM messages WHERE kind = 'welcome'")
    assert [(m["sender"], m["receiver"]) for m in welcome] == [("zhangsan", sim.store.one(
        "SELECT external_userid FROM welcome_codes WHERE code = ?", code)["external_userid"])]  # fmt: skip


def test_retry_sends_the_identical_request_when_siyu_does_not_answer_in_time(
    wait, sim, corp, crypt, receiver, live_code
):
    receiver.script = [1.0, 500]  # stall past the 0.5 s timeout, then a 500, then 200
    result = scan(sim)
    requests = receiver.wait_for(3)
    assert len(requests) == 3
    assert all(r.query == requests[0].query and r.body == requests[0].body for r in requests)
    row = finished(wait, sim, result["delivery"])
    assert (row["status"], row["attempts"]) == ("delivered", 3)
    assert (
        "#1 timeout" in row["last_error"]
        and "#2 HTTP 500" in row["last_error"]
        and "#3 200" in row["last_error"]
    )
    assert receiver.decrypt(requests[2], crypt)["ChangeType"] == "add_external_contact"


def test_at_most_three_retries_then_failed(wait, sim, corp, receiver, live_code):
    receiver.default = 503
    result = scan(sim)
    row = finished(wait, sim, result["delivery"])
    assert (row["status"], row["attempts"]) == ("failed", 4)
    time.sleep(0.3)
    assert len(receiver.requests) == 4
    assert len({(r.body, tuple(sorted(r.query.items()))) for r in receiver.requests}) == 1


def test_api_changes_send_no_callback(sim, corp, crypt, receiver, client, live_code):
    added = scan(sim)
    receiver.wait_for(1)
    ext = added["external_userid"]
    group = client.add_corp_tag(group_name="来源", tags=[{"name": "展会"}, {"name": "官网"}])["tag_group"]
    tag_ids = [t["id"] for t in group["tag"]]
    client.mark_tag(userid="zhangsan", external_userid=ext, add_tag=tag_ids)
    client.call("POST", "externalcontact/remark", body={"userid": "zhangsan", "external_userid": ext, "remark": "VIP"},
                idempotent=True)  # fmt: skip
    client.call(
        "POST", "externalcontact/edit_corp_tag", body={"id": tag_ids[0], "name": "线下展会"}, idempotent=True
    )
    client.update_contact_way(config_id=live_code["config_id"], remark="改了")
    client.transfer_customer(handover_userid="zhangsan", takeover_userid="lisi", external_userid=[ext])
    client.call("POST", "externalcontact/del_corp_tag", body={"tag_id": [tag_ids[1]]}, idempotent=True)
    time.sleep(0.4)
    assert len(receiver.requests) == 1
    assert sim.store.one("SELECT COUNT(*) FROM deliveries")[0] == 1
    follow = client.get_external_contact(external_userid=ext)["follow_user"][0]
    assert follow["remark"] == "VIP"
    assert [(t["group_name"], t["tag_name"]) for t in follow["tags"]] == [("来源", "线下展会")]
    # the same kinds of change made in the client or the admin console do call back
    actions.tag(sim.sim, corp_id=corp.corp_id, external_userid=ext, userid="zhangsan", remove=["线下展会"])
    actions.admin_tag(sim.sim, corp_id=corp.corp_id, group_name="来源", tag_name="朋友圈")
    requests = receiver.wait_for(3)
    kinds = [(ev["Event"], ev["ChangeType"]) for ev in (receiver.decrypt(r, crypt) for r in requests[1:])]
    assert sorted(kinds) == [
        ("change_external_contact", "edit_external_contact"),
        ("change_external_tag", "create"),
    ]


def test_customer_and_employee_deletions(sim, corp, crypt, receiver, client, live_code):
    from siyu.channels.wecom import errors as e

    ext = scan(sim)["external_userid"]
    actions.delete(sim.sim, corp_id=corp.corp_id, external_userid=ext, by="customer")
    # one-way relation remains: the APIs still work
    assert client.get_external_contact(external_userid=ext)["follow_user"][0]["userid"] == "zhangsan"
    actions.delete(sim.sim, corp_id=corp.corp_id, external_userid=ext, by="employee")
    with pytest.raises(e.WeComNotFriend):
        client.get_external_contact(external_userid=ext)
    events = [receiver.decrypt(r, crypt) for r in receiver.wait_for(3)]
    by_type = {ev["ChangeType"]: ev for ev in events}
    assert set(by_type) == {"add_external_contact", "del_follow_user", "del_external_contact"}
    assert (by_type["del_follow_user"]["UserID"], by_type["del_follow_user"]["ExternalUserID"]) == (
        "zhangsan",
        ext,
    )
    assert "Source" not in by_type["del_external_contact"]


def test_no_callback_url_means_no_delivery(sim, corp, receiver, client, live_code):
    state.set_callback_url(sim.store, corp.corp_id, "")
    result = scan(sim)
    assert (
        sim.store.one("SELECT status FROM deliveries WHERE id = ?", result["delivery"])["status"] == "no_url"
    )
    time.sleep(0.2)
    assert receiver.requests == []


def test_url_verification_like_the_admin_console(sim, corp):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    from siyu.channels.wecom.simulator.delivery import verify_callback_url

    crypt = WXBizMsgCrypt(token=corp.token, encoding_aes_key=corp.aes_key, receive_id=corp.corp_id)

    class Verify(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            answer = crypt.verify_url(msg_signature=q["msg_signature"], timestamp=q["timestamp"], nonce=q["nonce"],
                                      echostr=q["echostr"]).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Verify)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        state.set_callback_url(sim.store, corp.corp_id, f"http://127.0.0.1:{server.server_address[1]}/cb")
        assert verify_callback_url(sim.store.one("SELECT * FROM corps"), now=time.time()) == (True, "ok")
    finally:
        server.shutdown()
        server.server_close()


def test_pending_deliveries_survive_a_restart(wait, make_sim, tmp_path, receiver):
    path = tmp_path / "restart.sqlite3"
    first = make_sim(path=path)
    creds = state.create_corp(first.store, name="重启", corp_id="wwrestart", callback_url="")
    state.add_employee(first.store, "wwrestart", userid="u1", name="甲")
    with first.store.tx() as db:
        db.execute("INSERT INTO contact_ways (corp_id, config_id, state, body, created_at) VALUES ('wwrestart', 'c1', 's1', "
                   "'{\"type\":1,\"scene\":2,\"user\":[\"u1\"]}', 0)")  # fmt: skip
    first.stop()
    # the CLI works on the file while no server runs: the callback waits in the queue
    from siyu.channels.wecom.simulator.cli import main

    assert (
        main(["--state-file", str(path), "set-callback", "--corp-id", "wwrestart", "--url", receiver.url])
        == 0
    )
    assert main(["--state-file", str(path), "scan", "--state", "s1", "--name", "离线"]) == 0
    assert receiver.requests == []
    second = make_sim(path=path)
    [request] = receiver.wait_for(1)
    crypt = WXBizMsgCrypt(token=creds.token, encoding_aes_key=creds.aes_key, receive_id="wwrestart")
    assert receiver.decrypt(request, crypt)["State"] == "s1"
    assert wait(lambda: second.store.one("SELECT status FROM deliveries")["status"] == "delivered")
