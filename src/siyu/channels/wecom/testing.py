"""A tiny in-memory fake of WeCom's server API and client actions, for this package's tests (and other contexts'
tests that need a connected corp). Not the simulator (``siyu wecom-sim``): no HTTP server, no validation beyond
what the tests need, no retries of callbacks. Plug it into httpx with respx::

    fake = FakeWeCom(corp_id="ww1", secret="s")
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="wecom.test").mock(side_effect=fake.handle)
        ...

and post the callbacks its client actions return with :func:`signed_post` (encrypted and signed like WeCom's).
API calls never produce callbacks, as in WeCom (protocol document §2.1).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from siyu.channels.wxcrypto import WXBizMsgCrypt

API_BASE = "http://wecom.test/cgi-bin/"
TOKEN = "faketoken123"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


def ok(**fields: Any) -> httpx.Response:
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", **fields})


def err(code: int, msg: str = "error") -> httpx.Response:
    return httpx.Response(200, json={"errcode": code, "errmsg": msg})


@dataclass
class FakeWeCom:
    corp_id: str = "wwfakecorp0001"
    secret: str = "fake-secret"
    agent_secret: str = "fake-app-secret"
    departments: list[dict] = field(default_factory=lambda: [{"id": 1, "name": "总部", "parentid": 0, "order": 1}])
    users: dict[str, dict] = field(default_factory=dict)  # userid -> {name, department, mobile, email}
    follow_users: list[str] = field(default_factory=list)
    contacts: dict[str, dict] = field(default_factory=dict)  # external_userid -> external_contact
    relations: dict[tuple[str, str], dict] = field(default_factory=dict)  # (userid, ext) -> follow info
    tag_groups: list[dict] = field(default_factory=list)
    contact_ways: dict[str, dict] = field(default_factory=dict)
    welcome_codes: dict[str, str] = field(default_factory=dict)  # code -> "" unused / "sent"
    welcomes: list[dict] = field(default_factory=list)
    templates: list[dict] = field(default_factory=list)
    app_messages: list[dict] = field(default_factory=list)
    calls: list[tuple[str, dict]] = field(default_factory=list)
    fail: dict[str, list[int]] = field(default_factory=dict)  # api -> errcodes to answer next, in order
    page_size: int | None = None  # batch/get_by_user page size override
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # --- fixtures -------------------------------------------------------------------------------------------

    def add_employee(self, userid: str, name: str = "", *, follow: bool = True, mobile: str = "",
                     email: str = "") -> None:
        self.users[userid] = {"userid": userid, "name": name or userid, "department": [1], "status": 1,
                              "mobile": mobile, "email": email}
        if follow and userid not in self.follow_users:
            self.follow_users.append(userid)

    def add_tag_group(self, name: str, tags: list[str]) -> dict[str, str]:
        gid = f"etgroup{next(self._ids)}"
        group = {"group_id": gid, "group_name": name, "create_time": 1, "order": 0, "deleted": False,
                 "tag": [{"id": f"ettag{next(self._ids)}", "name": t, "create_time": 1, "order": 0,
                          "deleted": False} for t in tags]}
        self.tag_groups.append(group)
        return {t["name"]: t["id"] for t in group["tag"]}

    # --- client actions (they produce the callback WeCom would send) ---------------------------------------------

    def scan(self, *, state: str, external_userid: str, name: str = "客户", unionid: str = "",
             userid: str | None = None, at: int | None = None, half: bool = False) -> str:
        """A WeChat user scans a contact way (found by ``state``) and adds one of its users; returns the
        callback's plaintext XML (with a fresh WelcomeCode)."""
        way = next((w for w in self.contact_ways.values() if w["state"] == state), None)
        users = way["user"] if way else list(self.follow_users)
        userid = userid or users[0]
        at = at or int(time.time())
        self.contacts[external_userid] = {"external_userid": external_userid, "name": name, "type": 1,
                                          "gender": 1, "unionid": unionid, "avatar": ""}
        if not half:
            self.relations[(userid, external_userid)] = {
                "userid": userid, "remark": "", "description": "", "createtime": at, "tags": [],
                "add_way": 1, "state": state, "oper_userid": external_userid}
        code = f"WELCOME{next(self._ids)}"
        self.welcome_codes[code] = ""
        change = "add_half_external_contact" if half else "add_external_contact"
        return self.event_xml(change, userid=userid, external_userid=external_userid, at=at, State=state,
                              WelcomeCode=code)

    def customer_deletes(self, *, userid: str, external_userid: str, at: int | None = None) -> str:
        """The customer deletes the employee: the relation stays listed (one-way), the callback says so."""
        return self.event_xml("del_follow_user", userid=userid, external_userid=external_userid, at=at)

    def employee_deletes(self, *, userid: str, external_userid: str, at: int | None = None) -> str:
        self.relations.pop((userid, external_userid), None)
        return self.event_xml("del_external_contact", userid=userid, external_userid=external_userid, at=at)

    def event_xml(self, change_type: str, *, userid: str, external_userid: str, at: int | None = None,
                  event: str = "change_external_contact", **extra: str) -> str:
        fields = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in extra.items() if v != "")
        return (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]>"
                f"</FromUserName><CreateTime>{at or int(time.time())}</CreateTime><MsgType><![CDATA[event]]>"
                f"</MsgType><Event><![CDATA[{event}]]></Event><ChangeType><![CDATA[{change_type}]]></ChangeType>"
                f"<UserID><![CDATA[{userid}]]></UserID><ExternalUserID><![CDATA[{external_userid}]]>"
                f"</ExternalUserID>{fields}</xml>")

    # --- the API ---------------------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        api = request.url.path.split("/cgi-bin/", 1)[-1]
        body = json.loads(request.content) if request.content else {}
        query = dict(request.url.params)
        self.calls.append((api, body or query))
        if api == "gettoken":
            if query.get("corpsecret") not in (self.secret, self.agent_secret):
                return err(40001, "invalid secret")
            return ok(access_token=f"tok-{query['corpsecret']}", expires_in=7200)
        if self.fail.get(api):
            return err(self.fail[api].pop(0))
        handler = getattr(self, "api_" + api.replace("/", "_"), None)
        return handler(body, query) if handler else err(40058, f"fake has no {api}")

    def api_department_list(self, body, query):
        return ok(department=self.departments)

    def api_user_list(self, body, query):
        return ok(userlist=list(self.users.values()))

    def api_externalcontact_get_follow_user_list(self, body, query):
        return ok(follow_user=list(self.follow_users))

    def api_externalcontact_get(self, body, query):
        ext = query.get("external_userid", "")
        follows = [dict(info) for (u, e), info in self.relations.items() if e == ext]
        if ext not in self.contacts or not follows:
            return err(84061, "not external contact")
        for info in follows:
            info["tags"] = [{"tag_id": t, "type": 1} for t in info.get("tags_ids", [])]
        return ok(external_contact=self.contacts[ext], follow_user=follows, next_cursor="")

    def api_externalcontact_batch_get_by_user(self, body, query):
        users = body.get("userid_list") or []
        items = [{"external_contact": self.contacts[e], "follow_info": {**info, "tag_id": info.get("tags_ids", [])}}
                 for (u, e), info in sorted(self.relations.items()) if u in users and e in self.contacts]
        size = self.page_size or int(body.get("limit") or 50)
        start = int(body.get("cursor") or 0)
        page = items[start:start + size]
        nxt = str(start + size) if start + size < len(items) else ""
        return ok(external_contact_list=page, next_cursor=nxt)

    def api_externalcontact_get_corp_tag_list(self, body, query):
        return ok(tag_group=self.tag_groups)

    def api_externalcontact_add_corp_tag(self, body, query):
        group = next((g for g in self.tag_groups if g["group_id"] == body.get("group_id")), None)
        if group is None:
            group = {"group_id": f"etgroup{next(self._ids)}", "group_name": body.get("group_name"),
                     "create_time": 1, "order": 0, "deleted": False, "tag": []}
            self.tag_groups.append(group)
        new = [{"id": f"ettag{next(self._ids)}", "name": t["name"], "create_time": 1, "order": 0, "deleted": False}
               for t in body.get("tag") or []]
        group["tag"].extend(new)
        return ok(tag_group={**group, "tag": new})

    def api_externalcontact_mark_tag(self, body, query):
        info = self.relations.get((body["userid"], body["external_userid"]))
        if info is None:
            return err(84061)
        ids = set(info.get("tags_ids", [])) | set(body.get("add_tag") or [])
        info["tags_ids"] = sorted(ids - set(body.get("remove_tag") or []))
        return ok()

    def api_externalcontact_add_contact_way(self, body, query):
        config_id = f"cfg{next(self._ids)}"
        self.contact_ways[config_id] = {**body, "config_id": config_id,
                                        "qr_code": f"https://wework.qpic.cn/fake/{config_id}.png"}
        return ok(config_id=config_id, qr_code=self.contact_ways[config_id]["qr_code"])

    def api_externalcontact_update_contact_way(self, body, query):
        way = self.contact_ways.get(body.get("config_id"))
        if way is None:
            return err(41044)
        way.update({k: v for k, v in body.items() if k != "config_id"})
        return ok()

    def api_externalcontact_del_contact_way(self, body, query):
        if self.contact_ways.pop(body.get("config_id"), None) is None:
            return err(41044)
        return ok()

    def api_externalcontact_send_welcome_msg(self, body, query):
        code = body.get("welcome_code")
        if code not in self.welcome_codes:
            return err(41050)
        if self.welcome_codes[code]:
            return err(41051)
        self.welcome_codes[code] = "sent"
        self.welcomes.append(body)
        return ok()

    def api_externalcontact_add_msg_template(self, body, query):
        failed = [e for e in body.get("external_userid") or []
                  if not any(k == (body.get("sender"), e) for k in self.relations)]
        msgid = f"msg{next(self._ids)}"
        self.templates.append({**body, "msgid": msgid})
        return ok(fail_list=failed, msgid=msgid)

    def api_message_send(self, body, query):
        self.app_messages.append(body)
        return ok(msgid=f"appmsg{next(self._ids)}")

    def called(self, api: str) -> list[dict]:
        return [b for a, b in self.calls if a == api]


def signed_post(client, url: str, plaintext: str, *, token: str = TOKEN, aes_key: str = AES_KEY,
                corp_id: str, timestamp: int | None = None, nonce: str = "12345"):
    """POST ``plaintext`` to a callback URL encrypted and signed like WeCom (XML envelope)."""
    crypto = WXBizMsgCrypt(token=token, encoding_aes_key=aes_key, receive_id=corp_id)
    encrypt = crypto.encrypt(plaintext)
    ts = str(timestamp or int(time.time()))
    signature = crypto.signature(ts, nonce, encrypt)
    body = f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>" \
           f"<AgentID><![CDATA[1]]></AgentID></xml>"
    query = urlencode({"msg_signature": signature, "timestamp": ts, "nonce": nonce})
    return client.post(f"{url}?{query}", data=body, content_type="text/xml")
