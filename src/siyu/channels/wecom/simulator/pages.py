"""The simulator's own small web page: state at a glance and buttons for the client-side actions.

Plain HTML from ``templates/wecom_sim/page.html`` (``string.Template``) with every value escaped; forms POST to
``/sim/action/<name>`` and redirect back with a one-line result. It is a developer tool bound to loopback: no
login, no CSRF token.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from html import escape
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs, quote

import segno

from siyu.channels.wecom.simulator import actions, delivery
from siyu.channels.wecom.simulator.actions import Sim
from siyu.channels.wecom.simulator.errors import ActionError
from siyu.channels.wecom.simulator.state import corp_row, set_callback_url, set_oa_callback_url
from siyu.channels.wecom.simulator.store import loads

PAGE = Template((Path(__file__).parent / "templates" / "wecom_sim" / "page.html").read_text("utf-8"))
Response = tuple[str, str, bytes, list[tuple[str, str]]]


class NotFound(Exception):
    pass


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def html(title: str, body: str, flash: str = "") -> bytes:
    note = f'<p class="flash">{e(flash)}</p>' if flash else ""
    return PAGE.substitute(title=e(title), body=body, flash=note).encode("utf-8")


def form(action: str, fields: dict[str, Any], inner: str, *, label: str = "", cls: str = "inline") -> str:
    hidden = "".join(
        f'<input type="hidden" name="{e(k)}" value="{e(val)}">'
        for k, val in fields.items()
        if val is not None
    )
    button = f'<button type="submit">{e(label)}</button>' if label else ""
    return (
        f'<form method="post" action="/sim/action/{e(action)}" class="{cls}">{hidden}{inner}{button}</form>'
    )


def text_input(name: str, placeholder: str, value: str = "", size: int = 12) -> str:
    return f'<input name="{e(name)}" placeholder="{e(placeholder)}" value="{e(value)}" size="{size}">'


def table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td colspan=99>—</td></tr>'}</tbody></table>"


def qr_svg(url: str) -> str:
    return segno.make(url, error="m").svg_inline(scale=4)


def qr_image(url: str, fmt: str) -> Response:
    """The QR code of ``url`` as a PNG or SVG download."""
    code = segno.make(url, error="m")
    if fmt == "svg":
        return "200 OK", "image/svg+xml", code.svg_inline(scale=6).encode(), []
    buf = io.BytesIO()
    code.save(buf, kind="png", scale=6)
    return "200 OK", "image/png", buf.getvalue(), []


def scan_buttons(users: list[str]) -> str:
    return "".join(
        f'<button type="submit" name="userid" value="{e(u)}">Scan and add {e(u)}</button>' for u in users
    )


# --- the index page -------------------------------------------------------------------------------------


def index(sim: Sim, flash: str) -> bytes:
    store = sim.store
    now = sim.now()
    parts = [f"<p>Simulator time: <b>{e(actions.utc(now))}</b> (offset {e(store.get_meta('clock_offset', '0'))} s) "
             + form("advance_clock", {}, text_input("seconds", "seconds", "20", 6), label="Advance clock")
             + ' · <a href="/sim/status.json">status.json</a></p>']  # fmt: skip
    for corp in store.all("SELECT * FROM corps ORDER BY created_at"):
        parts.append(corp_section(sim, corp))
    for oa in store.all("SELECT * FROM oa_accounts ORDER BY created_at"):
        parts.append(oa_section(sim, oa))
    parts.append(deliveries_section(sim))
    return html("WeCom simulator", "".join(parts), flash)


def corp_section(sim: Sim, corp: Any) -> str:
    store, cid = sim.store, corp["corp_id"]
    out = [f'<section id="corp-{e(cid)}"><h2>{e(corp["name"])} <small>{e(cid)}</small></h2>']
    out.append("<details><summary>Connection</summary>" + table(["field", "value"], [
        [e("callback URL"), e(corp["callback_url"] or "(none: callbacks are not sent)")],
        [e("Token"), f"<code>{e(corp['token'])}</code>"], [e("EncodingAESKey"), f"<code>{e(corp['aes_key'])}</code>"],
        [e("customer-contact secret"), f"<code>{e(corp['contact_secret'])}</code>"],
        [e("app AgentId / secret"), f"<code>{e(corp['agent_id'])}</code> / <code>{e(corp['agent_secret'])}</code>"],
        [e("archive secret"), f"<code>{e(corp['msgaudit_secret'])}</code>"],
    ]) + form("set_callback", {"corp_id": cid}, text_input("url", "callback URL", corp["callback_url"], 50),
              label="Save callback URL") + form("verify_callback", {"corp_id": cid}, "", label="Verify URL (GET echostr)")
               + "</details>")  # fmt: skip
    employees = store.all("SELECT * FROM employees WHERE corp_id = ? ORDER BY userid", cid)
    out.append("<h3>Employees</h3>" + table(["userid", "name", "status", ""], [
        [e(m["userid"]), e(m["name"]), e("active" if m["status"] == 1 else "left"),
         form("resign", {"corp_id": cid, "userid": m["userid"]}, "", label="Resign") if m["status"] == 1 else ""]
        for m in employees]))  # fmt: skip
    rows = []
    for way in store.all("SELECT * FROM contact_ways WHERE corp_id = ? ORDER BY created_at DESC", cid):
        body = loads(way["body"]) or {}
        users = actions.contact_way_users(store.conn(), cid, body)
        buttons = scan_buttons(users)
        scan = form("scan", {"config_id": way["config_id"], "corp_id": cid},
                    text_input("name", "customer name", "张三", 8) + text_input("unionid", "unionid (optional)", "", 14)
                    + buttons)  # fmt: skip
        rows.append([f'<a href="/sim/contact-way/{e(way["config_id"])}">{e(way["state"] or "(no state)")}</a>',
                     e(body.get("remark", "")), e(", ".join(users)), scan])  # fmt: skip
    out.append(
        "<h3>Contact ways (联系我)</h3>" + table(["state", "remark", "members", "a WeChat user scans"], rows)
    )
    out.append(customers_table(sim, cid))
    groups = store.all("SELECT g.*, (SELECT COUNT(*) FROM group_members m WHERE m.corp_id = g.corp_id AND "
                       "m.chat_id = g.chat_id) AS members FROM group_chats g WHERE corp_id = ? ORDER BY create_time", cid)  # fmt: skip
    out.append("<h3>Customer groups</h3>" + table(["name", "chat_id", "owner", "members", ""], [
        [e(g["name"]) + (" (dismissed)" if g["status"] < 0 else ""), f"<code>{e(g['chat_id'])}</code>", e(g["owner"]),
         e(g["members"]), "" if g["status"] < 0 else
         form("change_group", {"corp_id": cid, "chat_id": g["chat_id"]}, text_input("name", "new name"), label="Rename")
         + form("change_group", {"corp_id": cid, "chat_id": g["chat_id"], "dismiss": "1"}, "", label="Dismiss")]
        for g in groups])
        + form("create_group", {"corp_id": cid}, text_input("owner", "owner userid") + text_input("name", "group name"),
               label="Create group"))  # fmt: skip
    ways = store.all("SELECT * FROM join_ways WHERE corp_id = ? ORDER BY created_at", cid)
    out.append("<h3>Group live codes (加入群聊)</h3>" + table(["state", "groups", "a WeChat user scans"], [
        [e(w["state"] or w["config_id"]), e(", ".join(loads(w["chat_id_list"]) or [])),
         form("scan_group_code", {"corp_id": cid, "code": w["config_id"]}, text_input("name", "WeChat name"),
              label="Scan")] for w in ways]))  # fmt: skip
    tags = store.all("SELECT g.name AS group_name, t.name, t.tag_id FROM tags t JOIN tag_groups g ON g.corp_id = t.corp_id "
                     "AND g.group_id = t.group_id WHERE t.corp_id = ? AND t.deleted = 0 ORDER BY g.name, t.name", cid)  # fmt: skip
    out.append("<h3>Corp tags</h3>" + table(["group", "tag", "id"], [
        [e(t["group_name"]), e(t["name"]), f"<code>{e(t['tag_id'])}</code>"] for t in tags])
        + form("admin_tag", {"corp_id": cid}, text_input("group_name", "group") + text_input("tag_name", "tag"),
               label="Admin creates tag"))  # fmt: skip
    transfers = store.all("SELECT * FROM transfers WHERE corp_id = ? ORDER BY id DESC LIMIT 50", cid)
    out.append("<h3>Transfers</h3>" + table(["customer", "from → to", "kind", "status", ""], [
        [e(t["external_userid"]), e(f"{t['handover']} → {t['takeover']}"), e(t["kind"]),
         e({1: "done", 2: "waiting", 3: "refused", 4: "limit"}.get(t["status"], t["status"])),
         form("refuse_transfer", {"corp_id": cid, "external_userid": t["external_userid"]}, "", label="Customer refuses")
         if t["status"] == 2 else ""] for t in transfers]))  # fmt: skip
    messages = store.all("SELECT * FROM messages WHERE corp_id = ? ORDER BY seq DESC LIMIT 30", cid)
    out.append("<h3>Messages</h3>" + table(["seq", "time", "kind", "from → to", "content", "archived"], [
        [e(m["seq"]), e(actions.utc(m["msgtime"] / 1000)), e(m["kind"]), e(f"{m['sender']} → {m['receiver']}"),
         f"<code>{e(m['payload'])}</code>", e("yes" if m["archived"] else "")] for m in messages]))  # fmt: skip
    app_messages = store.all(
        "SELECT * FROM app_messages WHERE corp_id = ? ORDER BY created_at DESC LIMIT 20", cid
    )
    out.append("<h3>App messages (message/send)</h3>" + table(["time", "to", "type", "content"], [
        [e(actions.utc(m["created_at"])), e(m["touser"]), e(m["msgtype"]), f"<code>{e(m['payload'])}</code>"]
        for m in app_messages]) + "</section>")  # fmt: skip
    return "".join(out)


def customers_table(sim: Sim, cid: str) -> str:
    store = sim.store
    groups = store.all(
        "SELECT chat_id, name FROM group_chats WHERE corp_id = ? AND status = 0 ORDER BY name", cid
    )
    oas = store.all("SELECT appid, name FROM oa_accounts ORDER BY created_at")
    rows = []
    follows = store.all(
        "SELECT f.*, c.name, c.unionid, (SELECT group_concat(t.name, ', ') FROM follow_tags ft JOIN tags t ON "
        "t.corp_id = ft.corp_id AND t.tag_id = ft.tag_id WHERE ft.corp_id = f.corp_id AND ft.userid = f.userid AND "
        "ft.external_userid = f.external_userid) AS tag_names FROM follows f JOIN external_contacts c ON c.corp_id = "
        "f.corp_id AND c.external_userid = f.external_userid WHERE f.corp_id = ? ORDER BY f.createtime DESC LIMIT 200", cid)  # fmt: skip
    for f in follows:
        who = {"corp_id": cid, "external_userid": f["external_userid"], "userid": f["userid"]}
        buttons = [
            form("delete", {**who, "by": "customer"}, "", label="Customer deletes employee"),
            form("delete", {**who, "by": "employee"}, "", label="Employee deletes customer"),
            form("message", who, text_input("text", "message", "你好", 10), label="Send message"),
            form("agree", who, "", label="Agree to archiving"),
        ]
        if groups:
            options = "".join(f'<option value="{e(g["chat_id"])}">{e(g["name"])}</option>' for g in groups)
            buttons.append(form("join_group", {"corp_id": cid, "external_userid": f["external_userid"]},
                                f'<select name="chat_id">{options}</select>', label="Join group"))  # fmt: skip
        for oa in oas:
            buttons.append(form("follow_oa", {"appid": oa["appid"], "unionid": f["unionid"], "name": f["name"]}, "",
                                label=f"Follow {oa['name']}"))  # fmt: skip
        status = "customer deleted the employee" if f["customer_deleted"] else "friends"
        rows.append([f"{e(f['name'])}<br><code>{e(f['external_userid'])}</code>", e(f["userid"]), e(f["state"]),
                     e(f["tag_names"] or ""), e(status), " ".join(buttons)])  # fmt: skip
    return "<h3>Customers</h3>" + table(
        ["customer", "employee", "state", "tags", "relation", "actions"], rows
    )


def oa_section(sim: Sim, oa: Any) -> str:
    store, app = sim.store, oa["appid"]
    followers = store.all("SELECT f.*, u.name FROM oa_followers f LEFT JOIN wechat_users u ON u.unionid = f.unionid "
                          "WHERE appid = ? ORDER BY subscribe_time DESC LIMIT 200", app)  # fmt: skip
    qrs = store.all("SELECT * FROM oa_qrcodes WHERE appid = ? ORDER BY created_at DESC LIMIT 30", app)
    return (f'<section id="oa-{e(app)}"><h2>{e(oa["name"])} <small>official account {e(app)} / {e(oa["original_id"])}</small></h2>'
            + "<details><summary>Connection</summary>" + table(["field", "value"], [
                [e("callback URL"), e(oa["callback_url"] or "(none)")], [e("AppSecret"), f"<code>{e(oa['secret'])}</code>"],
                [e("Token"), f"<code>{e(oa['token'])}</code>"], [e("EncodingAESKey"), f"<code>{e(oa['aes_key'])}</code>"]])
            + form("set_oa_callback", {"appid": app}, text_input("url", "callback URL", oa["callback_url"], 50),
                   label="Save callback URL") + "</details>"
            + "<h3>Parametric QR codes</h3>" + table(["scene", "kind", "page"], [
                [e(q["scene_str"] or q["scene_id"]), e(q["action_name"]), f'<a href="/sim/oa/qr/{e(q["ticket"])}">scan</a>']
                for q in qrs])
            + "<h3>Followers</h3>" + table(["name", "openid", "unionid", "following", "scene", ""], [
                [e(f["name"]), f"<code>{e(f['openid'])}</code>", f"<code>{e(f['unionid'])}</code>",
                 e("yes" if f["subscribe"] else "no"), e(f["qr_scene_str"] or f["qr_scene"] or ""),
                 form("unfollow_oa", {"appid": app, "openid": f["openid"]}, "", label="Unfollow") if f["subscribe"] else ""]
                for f in followers])
            + form("follow_oa", {"appid": app}, text_input("name", "name", "李四", 8), label="Follow by search")
            + "</section>")  # fmt: skip


def deliveries_section(sim: Sim) -> str:
    rows = sim.store.all("SELECT * FROM deliveries ORDER BY id DESC LIMIT 50")
    return '<section id="deliveries"><h2>Callback deliveries</h2>' + table(
        ["id", "queued", "event", "status", "attempts", "log", "plaintext"],
        [[e(d["id"]), e(actions.utc(d["created_at"])), e(d["summary"]), f'<span class="st-{e(d["status"])}">{e(d["status"])}</span>',
          e(d["attempts"]), e(d["last_error"]), f"<details><summary>xml</summary><code>{e(d['plaintext'])}</code></details>"]
         for d in rows]) + "</section>"  # fmt: skip


# --- single-object pages --------------------------------------------------------------------------------


def contact_way_page(sim: Sim, config_id: str, base_url: str, fmt: str) -> Response:
    way = sim.store.one("SELECT * FROM contact_ways WHERE config_id = ?", config_id)
    if way is None:
        raise NotFound
    url = f"{base_url}/sim/contact-way/{config_id}"
    if fmt:
        return qr_image(url, fmt)
    body = loads(way["body"]) or {}
    users = actions.contact_way_users(sim.store.conn(), way["corp_id"], body)
    buttons = scan_buttons(users)
    inner = (f"<h2>Contact way {e(way['state'] or config_id)}</h2>{qr_svg(url)}"
             f"<p>corp {e(way['corp_id'])} · remark {e(body.get('remark', ''))} · members {e(', '.join(users))}</p>"
             + form("scan", {"config_id": config_id, "corp_id": way["corp_id"]},
                    text_input("name", "customer name", "张三") + text_input("unionid", "unionid (optional)", "", 20)
                    + buttons, cls="block"))  # fmt: skip
    return "200 OK", "text/html; charset=utf-8", html(f"Contact way {way['state']}", inner), []


def oa_qr_page(sim: Sim, ticket: str, base_url: str, fmt: str = "") -> Response:
    qr = sim.store.one("SELECT * FROM oa_qrcodes WHERE ticket = ?", ticket)
    if qr is None:
        raise NotFound
    url = f"{base_url}/sim/oa/qr/{ticket}"
    if fmt:
        return qr_image(url, fmt)
    scene = qr["scene_str"] or qr["scene_id"]
    inner = (f"<h2>Official-account QR code, scene {e(scene)}</h2>{qr_svg(url)}"
             + form("follow_oa", {"appid": qr["appid"], "ticket": ticket},
                    text_input("name", "name", "李四") + text_input("unionid", "unionid (optional)", "", 20),
                    label="Scan (follow, or SCAN when already following)", cls="block"))  # fmt: skip
    return "200 OK", "text/html; charset=utf-8", html("Official-account QR", inner), []


# --- actions from forms ---------------------------------------------------------------------------------


def _fields(raw: bytes) -> dict[str, str]:
    return {
        k: v[0].strip() for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()
    }


def _opt(fields: dict[str, str], name: str) -> str | None:
    return fields.get(name) or None


def _set_callback(sim: Sim, f: dict[str, str]) -> dict[str, Any]:
    set_callback_url(sim.store, f["corp_id"], f.get("url", ""))
    return {"callback_url": f.get("url", "")}


def _set_oa_callback(sim: Sim, f: dict[str, str]) -> dict[str, Any]:
    set_oa_callback_url(sim.store, f["appid"], f.get("url", ""))
    return {"callback_url": f.get("url", "")}


def _verify(sim: Sim, f: dict[str, str]) -> dict[str, Any]:
    ok, detail = delivery.verify_callback_url(corp_row(sim.store.conn(), f["corp_id"]), now=sim.now())
    return {"verified": ok, "detail": detail}


def _advance(sim: Sim, f: dict[str, str]) -> dict[str, Any]:
    try:
        seconds = float(f.get("seconds") or 0)
    except ValueError:
        raise ActionError("seconds must be a number") from None
    offset = sim.store.advance_clock(seconds)
    actions.tick(sim)
    return {"clock_offset": offset}


FORM_ACTIONS: dict[str, Callable[[Sim, dict[str, str]], dict[str, Any]]] = {
    "scan": lambda sim, f: actions.scan(sim, config_id=f.get("config_id", ""), state=f.get("state", ""),
                                        name=f.get("name") or "微信用户", unionid=_opt(f, "unionid"),
                                        userid=_opt(f, "userid"), corp_id=_opt(f, "corp_id")),
    "delete": lambda sim, f: actions.delete(sim, corp_id=f["corp_id"], external_userid=f["external_userid"],
                                            userid=_opt(f, "userid"), by=f.get("by", "customer")),
    "message": lambda sim, f: actions.message(sim, corp_id=f["corp_id"], external_userid=f["external_userid"],
                                              userid=_opt(f, "userid"), text=f.get("text") or "你好"),
    "agree": lambda sim, f: actions.agree(sim, corp_id=f["corp_id"], external_userid=f["external_userid"],
                                          userid=_opt(f, "userid")),
    "join_group": lambda sim, f: actions.join_group(sim, corp_id=f["corp_id"], chat_id=f["chat_id"],
                                                    external_userid=_opt(f, "external_userid"), name=_opt(f, "name")),
    "scan_group_code": lambda sim, f: actions.scan_group_code(sim, corp_id=f["corp_id"], code=f["code"],
                                                              name=f.get("name") or "微信用户"),
    "change_group": lambda sim, f: actions.change_group(sim, corp_id=f["corp_id"], chat_id=f["chat_id"],
                                                        name=_opt(f, "name"), dismiss=bool(f.get("dismiss"))),
    "create_group": lambda sim, f: actions.create_group(sim, corp_id=f["corp_id"], owner=f["owner"], name=f["name"]),
    "admin_tag": lambda sim, f: actions.admin_tag(sim, corp_id=f["corp_id"], group_name=f["group_name"],
                                                  tag_name=f["tag_name"]),
    "resign": lambda sim, f: actions.resign(sim, corp_id=f["corp_id"], userid=f["userid"]),
    "refuse_transfer": lambda sim, f: actions.refuse_transfer(sim, corp_id=f["corp_id"],
                                                              external_userid=f["external_userid"]),
    "follow_oa": lambda sim, f: actions.follow_oa(sim, appid=_opt(f, "appid"), unionid=_opt(f, "unionid"),
                                                  name=_opt(f, "name"), ticket=_opt(f, "ticket")),
    "unfollow_oa": lambda sim, f: actions.unfollow_oa(sim, appid=_opt(f, "appid"), openid=f["openid"]),
    "set_callback": _set_callback,
    "set_oa_callback": _set_oa_callback,
    "verify_callback": _verify,
    "advance_clock": _advance,
}  # fmt: skip


def run_form_action(sim: Sim, name: str, raw: bytes) -> str:
    action = FORM_ACTIONS.get(name)
    if action is None:
        raise NotFound
    try:
        result = action(sim, _fields(raw))
    except (ActionError, KeyError) as exc:
        return f"{name}: refused: {exc}"
    return f"{name}: " + json.dumps(result, ensure_ascii=False)


def status(sim: Sim) -> dict[str, Any]:
    """Counts and the latest deliveries (also ``siyu wecom-sim status``)."""
    store = sim.store
    count = lambda sql: store.one(sql)[0]  # noqa: E731
    by_status = {
        r["status"]: r["n"] for r in store.all("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
    }
    return {
        "time": actions.utc(sim.now()),
        "corps": [{"corp_id": r["corp_id"], "name": r["name"], "callback_url": r["callback_url"]}
                  for r in store.all("SELECT * FROM corps ORDER BY created_at")],
        "official_accounts": [{"appid": r["appid"], "name": r["name"], "callback_url": r["callback_url"]}
                              for r in store.all("SELECT * FROM oa_accounts ORDER BY created_at")],
        "employees": count("SELECT COUNT(*) FROM employees"),
        "external_contacts": count("SELECT COUNT(*) FROM external_contacts"),
        "follows": count("SELECT COUNT(*) FROM follows"),
        "contact_ways": count("SELECT COUNT(*) FROM contact_ways"),
        "group_chats": count("SELECT COUNT(*) FROM group_chats"),
        "oa_followers": count("SELECT COUNT(*) FROM oa_followers WHERE subscribe = 1"),
        "deliveries": by_status,
        "recent_deliveries": [{"id": d["id"], "summary": d["summary"], "status": d["status"], "attempts": d["attempts"],
                               "log": d["last_error"]} for d in store.all("SELECT * FROM deliveries ORDER BY id DESC LIMIT 20")],
    }  # fmt: skip


def route(sim: Sim, method: str, path: str, query: dict[str, str], raw: bytes, base_url: str) -> Response:
    if path == "/" and method == "GET":
        return "200 OK", "text/html; charset=utf-8", index(sim, query.get("msg", "")), []
    if path == "/sim/status.json":
        return (
            "200 OK",
            "application/json; charset=utf-8",
            json.dumps(status(sim), ensure_ascii=False).encode(),
            [],
        )
    if path.startswith("/sim/contact-way/"):
        return contact_way_page(
            sim, path.removeprefix("/sim/contact-way/"), base_url, query.get("format", "")
        )
    if path.startswith("/sim/oa/qr/"):
        return oa_qr_page(sim, path.removeprefix("/sim/oa/qr/"), base_url, query.get("format", ""))
    if path == "/cgi-bin/showqrcode" and query.get("ticket"):
        return oa_qr_page(sim, query["ticket"], base_url, "png")
    if path.startswith("/sim/action/") and method == "POST":
        message = run_form_action(sim, path.removeprefix("/sim/action/"), raw)
        return "303 See Other", "text/plain", b"", [("Location", "/?msg=" + quote(message))]
    raise NotFound
