"""Customer-contact endpoints: contact ways and their limits, sync with cursors, corp tags, broadcasts, groups,
transfers, the conversation archive."""

import pytest

from siyu.channels.wecom import errors as e
from siyu.channels.wecom.simulator import actions, seed


def raw(client, api, body):
    """Call past the client's own validation, to see the simulator's answer."""
    return client.call("POST", f"externalcontact/{api}", body=body, idempotent=False)


# --- contact ways ---------------------------------------------------------------------------------------


def test_contact_way_round_trip(sim, client, http):
    made = client.add_contact_way(
        type=2, scene=2, state="multi-1", user=["zhangsan", "lisi"], party=[2], remark="多人"
    )
    assert made["qr_code"] == f"{sim.url}/sim/contact-way/{made['config_id']}"
    way = client.get_contact_way(config_id=made["config_id"])["contact_way"]
    assert {k: way[k] for k in ("type", "scene", "state", "user", "party", "remark", "skip_verify", "is_temp")} == {
        "type": 2, "scene": 2, "state": "multi-1", "user": ["zhangsan", "lisi"], "party": [2], "remark": "多人",
        "skip_verify": True, "is_temp": False}  # fmt: skip
    client.update_contact_way(config_id=made["config_id"], state="multi-2", user=["lisi"])
    way = client.get_contact_way(config_id=made["config_id"])["contact_way"]
    assert (way["state"], way["user"], way["type"]) == ("multi-2", ["lisi"], 2)
    page = http.get(made["qr_code"])
    assert page.status_code == 200 and "Scan and add lisi" in page.text and "<svg" in page.text
    png = http.get(made["qr_code"], params={"format": "png"})
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    client.del_contact_way(config_id=made["config_id"])
    with pytest.raises(e.WeComInvalidRequest) as info:
        client.get_contact_way(config_id=made["config_id"])
    assert info.value.errcode == 41044


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"scene": 2, "user": ["zhangsan"]}, 41037),
        ({"type": 1, "user": ["zhangsan"]}, 41038),
        ({"type": 3, "scene": 2, "user": ["zhangsan"]}, 41039),
        ({"type": 1, "scene": 5, "user": ["zhangsan"]}, 41040),
        ({"type": 1, "scene": 2, "style": -1, "user": ["zhangsan"]}, 41042),
        ({"type": 1, "scene": 2, "user": ["zhangsan"], "state": "s" * 31}, 40058),
        ({"type": 1, "scene": 2, "user": ["zhangsan"], "remark": "r" * 31}, 40058),
        ({"type": 1, "scene": 2, "user": ["zhangsan", "lisi"]}, 41041),
        ({"type": 2, "scene": 2, "user": [f"u{i}" for i in range(101)]}, 41041),
        ({"type": 1, "scene": 2, "user": ["ghost"]}, 40003),
        ({"type": 1, "scene": 2, "user": ["nocontact"]}, 84074),
        ({"type": 2, "scene": 2, "party": [99]}, 60123),
        ({"type": 1, "scene": 2, "user": ["zhangsan"], "is_temp": True, "expires_in": 14 * 86400 + 1}, 40058),
        ({"type": 2, "scene": 2, "user": ["zhangsan"], "is_temp": True}, 40058),
    ],
)
def test_contact_way_limits(sim, client, body, errcode):
    with pytest.raises(e.WeComError) as info:
        raw(client, "add_contact_way", body)
    assert info.value.errcode == errcode
    assert sim.store.one("SELECT COUNT(*) FROM contact_ways")[0] == 0


def test_state_of_exactly_30_characters_is_accepted(client):
    assert client.add_contact_way(type=1, scene=2, state="s" * 30, user=["zhangsan"])["config_id"]


def test_config_id_missing_or_invalid(client):
    for body, errcode in (({}, 41043), ({"config_id": "nope"}, 41044)):
        with pytest.raises(e.WeComInvalidRequest) as info:
            raw(client, "update_contact_way", body)
        assert info.value.errcode == errcode


def test_multi_member_code_rotates_and_temporary_code_is_single_use(sim, client):
    from siyu.channels.wecom.simulator.errors import ActionError

    client.add_contact_way(type=2, scene=2, state="rot", user=["zhangsan", "lisi"])
    members = [actions.scan(sim.sim, state="rot", name=f"客{i}")["userid"] for i in range(4)]
    assert members == ["zhangsan", "lisi", "zhangsan", "lisi"]
    client.add_contact_way(type=1, scene=2, state="temp", user=["wangwu"], is_temp=True, expires_in=3600)
    actions.scan(sim.sim, state="temp", name="一次")
    with pytest.raises(ActionError, match="already used"):
        actions.scan(sim.sim, state="temp", name="两次")


# --- external contacts ----------------------------------------------------------------------------------


def test_full_sync_with_cursor_and_tags(sim, corp, client):
    seed.populate(sim.sim, corp_id=corp.corp_id, customers=250)
    group = client.add_corp_tag(group_name="等级", tags=[{"name": "A"}])["tag_group"]
    some = client.list_external_contacts(userid="lisi")["external_userid"][0]
    client.mark_tag(userid="lisi", external_userid=some, add_tag=[group["tag"][0]["id"]])
    pages = list(client.iter_batch_get_by_user(userid_list=["zhangsan", "lisi", "wangwu"], limit=100))
    assert [len(p["external_contact_list"]) for p in pages] == [100, 100, 50]
    assert pages[-1]["next_cursor"] == ""
    items = [i for p in pages for i in p["external_contact_list"]]
    assert len({(i["follow_info"]["userid"], i["external_contact"]["external_userid"]) for i in items}) == 250
    tagged = [i for i in items if i["external_contact"]["external_userid"] == some]
    assert tagged[0]["follow_info"]["tag_id"] == [group["tag"][0]["id"]]
    assert tagged[0]["external_contact"]["unionid"].startswith("oPop")
    assert set(client.get_follow_user_list()["follow_user"]) == {"zhangsan", "lisi", "wangwu"}


def test_batch_limits_and_unknown_ids(client):
    with pytest.raises(e.WeComInvalidRequest):
        raw(client, "batch/get_by_user", {"userid_list": [f"u{i}" for i in range(101)], "limit": 10})
    with pytest.raises(e.WeComInvalidRequest):
        raw(client, "batch/get_by_user", {"userid_list": ["zhangsan"], "limit": 101})
    with pytest.raises(e.WeComInvalidRequest) as info:
        raw(client, "batch/get_by_user", {"userid_list": ["ghost"]})
    assert info.value.errcode == 40003
    with pytest.raises(e.WeComInvalidRequest) as info:
        client.get_external_contact(external_userid="wmnobody")
    assert info.value.errcode == 40096
    with pytest.raises(e.WeComNotFriend):  # a member without customers
        client.list_external_contacts(userid="wangwu")


def test_corp_tags(client):
    made = client.add_corp_tag(
        group_name="来源", order=5, tags=[{"name": "展会", "order": 2}, {"name": "官网"}]
    )["tag_group"]
    assert [t["name"] for t in made["tag"]] == ["展会", "官网"]
    more = client.add_corp_tag(group_name="来源", tags=[{"name": "朋友圈"}])[
        "tag_group"
    ]  # same group by name
    assert more["group_id"] == made["group_id"]
    with pytest.raises(e.WeComInvalidRequest) as info:
        client.add_corp_tag(group_id=made["group_id"], tags=[{"name": "展会"}])
    assert info.value.errcode == 40071
    with pytest.raises(e.WeComInvalidRequest) as info:
        raw(client, "add_corp_tag", {"group_name": "g" * 31, "tag": [{"name": "x"}]})
    assert info.value.errcode == 40058
    groups = client.get_corp_tag_list()["tag_group"]
    assert [(g["group_name"], [t["name"] for t in g["tag"]]) for g in groups] == [
        ("来源", ["展会", "官网", "朋友圈"])
    ]
    official = made["tag"][1]["id"]
    raw(client, "del_corp_tag", {"tag_id": [official]})
    assert [t["name"] for t in client.get_corp_tag_list()["tag_group"][0]["tag"]] == ["展会", "朋友圈"]
    by_id = client.get_corp_tag_list(tag_id=[official])["tag_group"][0]  # "deleted" only when filtering by id
    assert by_id["tag"] == [{"id": official, "name": "官网", "create_time": by_id["tag"][0]["create_time"], "order": 0,
                             "deleted": True}]  # fmt: skip
    with pytest.raises(e.WeComInvalidRequest) as info:
        raw(client, "edit_corp_tag", {"id": "etnope", "name": "x"})
    assert info.value.errcode == 40068
    raw(
        client,
        "del_corp_tag",
        {"tag_id": [t["id"] for t in client.get_corp_tag_list()["tag_group"][0]["tag"]]},
    )
    assert client.get_corp_tag_list()["tag_group"] == []  # the empty group went with its last tag


def test_mark_tag_needs_a_relation_and_known_tags(sim, client):
    client.add_contact_way(type=1, scene=2, state="mt", user=["zhangsan"])
    ext = actions.scan(sim.sim, state="mt", name="标签")["external_userid"]
    with pytest.raises(e.WeComNotFriend):
        client.mark_tag(userid="lisi", external_userid=ext, add_tag=["etx"])
    with pytest.raises(e.WeComInvalidRequest) as info:
        client.mark_tag(userid="zhangsan", external_userid=ext, add_tag=["etnope"])
    assert info.value.errcode == 40068
    with pytest.raises(e.WeComInvalidRequest):
        raw(client, "mark_tag", {"userid": "zhangsan", "external_userid": ext})


# --- broadcasts -----------------------------------------------------------------------------------------


def test_broadcast_results_per_customer(sim, corp, client):
    client.add_contact_way(type=1, scene=2, state="bc", user=["zhangsan"])
    kept = actions.scan(sim.sim, state="bc", name="留下")["external_userid"]
    gone = actions.scan(sim.sim, state="bc", name="离开")["external_userid"]
    actions.delete(sim.sim, corp_id=corp.corp_id, external_userid=gone, by="employee")
    made = client.add_msg_template(external_userid=[kept, gone, "wmunknown"], text={"content": "双十一"})
    assert made["fail_list"] == [gone, "wmunknown"]
    result = client.get_groupmsg_send_result(msgid=made["msgid"], userid="zhangsan")["send_list"]
    assert [(r["external_userid"], r["status"]) for r in result] == [(kept, 1)]
    task = client.call(
        "POST", "externalcontact/get_groupmsg_task", body={"msgid": made["msgid"]}, idempotent=True
    )
    assert [(t["userid"], t["status"]) for t in task["task_list"]] == [("zhangsan", 2)]
    [sent] = sim.store.all("SELECT * FROM messages WHERE kind = 'broadcast'")
    assert (sent["sender"], sent["receiver"], sent["payload"]) == ("zhangsan", kept, '{"content":"双十一"}')
    with pytest.raises(e.WeComInvalidRequest) as info:
        client.get_groupmsg_send_result(msgid="msgnope", userid="zhangsan")
    assert info.value.errcode == 41047


def test_broadcast_confirmed_later_reports_not_friend_and_monthly_cap(make_sim, make_client):
    from siyu.channels.wecom.simulator import state

    slow = make_sim(broadcast_confirm_delay=3600, broadcast_dispatch_seconds=5)
    state.create_corp(slow.store, name="群发", corp_id="wwbroad", contact_secret="s1")
    state.add_employee(slow.store, "wwbroad", userid="u1", name="甲")
    client = make_client(server=slow, corp_id="wwbroad", secret="s1")
    client.add_contact_way(type=1, scene=2, state="b", user=["u1"])
    a = actions.scan(slow.sim, state="b", name="甲客")["external_userid"]
    b = actions.scan(slow.sim, state="b", name="乙客")["external_userid"]
    made = client.add_msg_template(external_userid=[a, b], text={"content": "hi"})
    pending = client.get_groupmsg_send_result(msgid=made["msgid"], userid="u1")["send_list"]
    assert sorted(r["status"] for r in pending) == [0, 0]  # not yet confirmed by the member
    actions.delete(slow.sim, corp_id="wwbroad", external_userid=b, by="employee")
    slow.store.advance_clock(3600)
    with pytest.raises(e.WeComRetryLater):  # still dispatching
        client.get_groupmsg_send_result(msgid=made["msgid"], userid="u1")
    slow.store.advance_clock(5)
    done = {
        r["external_userid"]: r["status"]
        for r in client.get_groupmsg_send_result(msgid=made["msgid"], userid="u1")["send_list"]
    }
    assert done == {a: 1, b: 2}
    listed = client.call(
        "POST",
        "externalcontact/get_groupmsg_list_v2",
        body={
            "chat_type": "single",
            "start_time": int(slow.sim.now()) - 86400,
            "end_time": int(slow.sim.now()),
        },
        idempotent=True,
    )
    assert [m["msgid"] for m in listed["group_msg_list"]] == [made["msgid"]]
    # the month's allowance (as many broadcasts as the month has days)
    _, _, days = actions.month_bounds(slow.sim.now())
    with slow.store.tx() as db:
        for i in range(days):
            db.execute("INSERT INTO msg_template_sends (msgid, userid, external_userid, status, send_time) VALUES "
                       "(?, 'u1', ?, 1, ?)", (f"old{i}", a, int(slow.sim.now())))  # fmt: skip
    again = client.add_msg_template(external_userid=[a], text={"content": "again"})
    slow.store.advance_clock(3605)
    assert client.get_groupmsg_send_result(msgid=again["msgid"], userid="u1")["send_list"][0]["status"] == 3
    with pytest.raises(e.WeComInvalidRequest) as info:
        client.add_msg_template(external_userid=["wmnobody"], text={"content": "x"})
    assert info.value.errcode == 41048


# --- groups ---------------------------------------------------------------------------------------------


def test_group_join_callback_and_detail(sim, corp, crypt, receiver, client):
    chat = actions.create_group(sim.sim, corp_id=corp.corp_id, owner="zhangsan", name="客户群")["chat_id"]
    joined = actions.join_group(
        sim.sim, corp_id=corp.corp_id, chat_id="客户群", name="入群者", unionid="oGroup1"
    )
    events = [receiver.decrypt(r, crypt) for r in receiver.wait_for(2)]
    update = next(ev for ev in events if ev["ChangeType"] == "update")
    assert (update["Event"], update["ChatId"], update["UpdateDetail"], update["JoinScene"], update["MemChangeCnt"]) == (
        "change_external_chat", chat, "add_member", "3", "1")  # fmt: skip
    assert update["LastMemVer"] != update["CurMemVer"]
    assert {ev["ChangeType"] for ev in events} == {"create", "update"}
    assert client.groupchat_list()["group_chat_list"] == [{"chat_id": chat, "status": 0}]
    detail = client.groupchat_get(chat_id=chat)["group_chat"]
    assert [(m["userid"], m["type"], m.get("unionid"), m["join_scene"], m.get("name")) for m in detail["member_list"]] == [
        ("zhangsan", 1, None, 1, ""), (joined["external_userid"], 2, "oGroup1", 3, "入群者")]  # fmt: skip
    with pytest.raises(e.WeComError) as info:
        client.groupchat_get(chat_id="wrnope")
    assert info.value.errcode == 40050


# --- transfers ------------------------------------------------------------------------------------------


def test_on_job_transfer_after_24_hours_twice_per_90_days(sim, corp, crypt, receiver, client):
    client.add_contact_way(type=1, scene=2, state="tr", user=["zhangsan"])
    ext = actions.scan(sim.sim, state="tr", name="转接")["external_userid"]
    receiver.wait_for(1)
    started = client.transfer_customer(
        handover_userid="zhangsan", takeover_userid="lisi", external_userid=[ext, "wmx"]
    )
    assert started["customer"] == [
        {"external_userid": ext, "errcode": 0},
        {"external_userid": "wmx", "errcode": 40131},
    ]
    result = client.transfer_result(handover_userid="zhangsan", takeover_userid="lisi")["customer"]
    assert [(r["external_userid"], r["status"]) for r in result] == [(ext, 2)]
    sim.store.advance_clock(24 * 3600 + 1)
    result = client.transfer_result(handover_userid="zhangsan", takeover_userid="lisi")["customer"]
    assert [(r["external_userid"], r["status"]) for r in result] == [(ext, 1)]
    assert [f["userid"] for f in client.get_external_contact(external_userid=ext)["follow_user"]] == ["lisi"]
    events = [receiver.decrypt(r, crypt) for r in receiver.wait_for(3)[1:]]
    assert sorted((ev["ChangeType"], ev["UserID"], ev.get("Source", "")) for ev in events) == [
        ("add_external_contact", "lisi", ""), ("del_external_contact", "zhangsan", "DELETE_BY_TRANSFER")]  # fmt: skip
    client.transfer_customer(handover_userid="lisi", takeover_userid="zhangsan", external_userid=[ext])
    sim.store.advance_clock(24 * 3600 + 1)
    actions.tick(sim.sim)
    third = client.transfer_customer(
        handover_userid="zhangsan", takeover_userid="lisi", external_userid=[ext]
    )
    assert third["customer"] == [{"external_userid": ext, "errcode": 40128}]
    sim.store.advance_clock(90 * 86400)
    again = client.transfer_customer(
        handover_userid="zhangsan", takeover_userid="lisi", external_userid=[ext]
    )
    assert again["customer"] == [{"external_userid": ext, "errcode": 0}]
    with pytest.raises(e.WeComInvalidRequest) as info:
        raw(
            client,
            "transfer_customer",
            {"handover_userid": "lisi", "takeover_userid": "lisi", "external_userid": [ext]},
        )
    assert info.value.errcode == 40130


def test_refused_transfer_and_resigned_inheritance(sim, corp, crypt, receiver, client):
    client.add_contact_way(type=1, scene=2, state="rs", user=["zhangsan"])
    ext = actions.scan(sim.sim, state="rs", name="继承")["external_userid"]
    client.transfer_customer(handover_userid="zhangsan", takeover_userid="lisi", external_userid=[ext])
    actions.refuse_transfer(sim.sim, corp_id=corp.corp_id, external_userid=ext)
    result = client.transfer_result(handover_userid="zhangsan", takeover_userid="lisi")["customer"]
    assert [r["status"] for r in result] == [3]
    events = [
        receiver.decrypt(r, crypt) for r in receiver.wait_for(2)
    ]  # in any order: two dispatcher threads
    fail = next(ev for ev in events if ev["ChangeType"] == "transfer_fail")
    assert (fail["ChangeType"], fail["FailReason"], fail["UserID"]) == (
        "transfer_fail",
        "customer_refused",
        "lisi",
    )
    with pytest.raises(e.WeComInvalidRequest) as info:
        client.transfer_customer(
            handover_userid="zhangsan", takeover_userid="lisi", external_userid=[ext], resigned=True
        )
    assert info.value.errcode == 40097
    actions.resign(sim.sim, corp_id=corp.corp_id, userid="zhangsan")
    unassigned = client.call(
        "POST", "externalcontact/get_unassigned_list", body={"page_size": 100}, idempotent=True
    )
    assert [(i["handover_userid"], i["external_userid"]) for i in unassigned["info"]] == [("zhangsan", ext)]
    assert client.transfer_customer(handover_userid="zhangsan", takeover_userid="wangwu", external_userid=[ext],
                                    resigned=True)["customer"][0]["errcode"] == 0  # fmt: skip
    sim.store.advance_clock(24 * 3600 + 1)
    result = client.transfer_result(handover_userid="zhangsan", takeover_userid="wangwu", resigned=True)[
        "customer"
    ]
    assert [r["status"] for r in result] == [1]
    assert [f["userid"] for f in client.get_external_contact(external_userid=ext)["follow_user"]] == [
        "wangwu"
    ]


# --- conversation archive -------------------------------------------------------------------------------


def test_archive_only_for_customers_who_agreed(sim, corp, crypt, receiver, make_client):
    contact = make_client()
    contact.add_contact_way(type=1, scene=2, state="ar", user=["zhangsan"])
    ext = actions.scan(sim.sim, state="ar", name="存档")["external_userid"]
    actions.message(sim.sim, corp_id=corp.corp_id, external_userid=ext, text="同意前")
    actions.agree(sim.sim, corp_id=corp.corp_id, external_userid=ext)
    actions.message(sim.sim, corp_id=corp.corp_id, external_userid=ext, text="同意后")
    actions.message(sim.sim, corp_id=corp.corp_id, external_userid=ext, text="回复", sender="employee")
    audit = make_client(secret=corp.msgaudit_secret)
    first = audit.call("POST", "msgaudit/sim/get_chat_data", body={"seq": 0, "limit": 2}, idempotent=True)[
        "chatdata"
    ]
    assert [(c["message"]["msgtype"], c["message"].get("text", {}).get("content")) for c in first] == [
        ("agree", None), ("text", "同意后")]  # fmt: skip
    assert first[1]["message"]["from"] == ext and first[1]["message"]["tolist"] == ["zhangsan"]
    rest = audit.call("POST", "msgaudit/sim/get_chat_data", body={"seq": first[-1]["seq"]}, idempotent=True)[
        "chatdata"
    ]
    assert [(c["message"]["from"], c["message"]["text"]["content"]) for c in rest] == [("zhangsan", "回复")]
    agree = audit.call("POST", "msgaudit/check_single_agree", body={"info": [{"userid": "zhangsan", "exteranalopenid": ext}]},
                       idempotent=True)["agreeinfo"]  # fmt: skip
    assert agree[0]["agree_status"] == "Agree"
    with pytest.raises(e.WeComConfigError):  # the contact secret cannot read the archive
        contact.call("POST", "msgaudit/sim/get_chat_data", body={"seq": 0}, idempotent=True)
    kinds = [receiver.decrypt(r, crypt) for r in receiver.wait_for(4)]
    assert len(kinds) == 4  # the add, the approval, two archived messages (not the one before agreeing)
    assert [k.get("ChangeType", k["Event"]) for k in kinds].count("msgaudit_notify") == 2
    assert [k.get("ChangeType") for k in kinds].count("msg_audit_approved") == 1
