"""Our thin WeCom server-API client (httpx + tenacity), following ``shared/docs/wecom-protocol.md`` §2.

One client = one (corp, secret): the customer-contact secret for ``externalcontact/*``, the app's secret for
``message/send``. What it does for every call:

1. validates the request against the documented limits (``validation``) and raises ``ChannelValidationError``
   before anything is sent;
2. takes a token from the per-corp, per-API rate limiter (``ratelimit``);
3. puts the cached access token in the query string (``tokens``; cached across processes with a lock);
4. maps a non-zero ``errcode`` to a typed exception (``errors``); on 40014/42001/42009 refreshes the token once
   and repeats the call once; retries busy (-1), rate-limit (45009/45033), 41096 and transport failures with
   exponential backoff and jitter (not 41051, and not a write that may already have been applied);
5. logs the API path and errcode only: secrets and tokens never reach logs or exception messages.

Steps 2–5 are the transport it shares with the official-account client (``channels.api_client.ApiClient``).

Methods return WeCom's JSON object (minus nothing: ``errcode``/``errmsg`` stay) so callers read the documented
field names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from siyu.channels.api_client import ApiClient, RetryPolicy
from siyu.channels.ratelimit import TokenBucketLimiter
from siyu.channels.redaction import install_log_redaction
from siyu.channels.tokens import AccessTokens, IssuedToken, TokenStore, default_token_store, token_key
from siyu.channels.wecom import validation as v
from siyu.channels.wecom.errors import (
    WeComTokenInvalid,
    WeComTransportError,
    error_for,
    retries_in_call,
)

install_log_redaction("httpx")

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"

# WeCom's published frequency limits (protocol document §2.1, doc path/90454 updated 2023-08-28): per corp and
# per API at most 10 000 calls a minute and 150 000 an hour. The hourly one binds for sustained load
# (150 000 / 3600 = 41.7/s). We refill at 90 % of it with a burst of 1 000, so any minute sees at most
# 1 000 + 60 × 37.5 = 3 250 calls (< 10 000) and any hour at most 1 000 + 3600 × 37.5 = 136 000 (< 150 000).
DEFAULT_RATE_PER_SECOND = 37.5
DEFAULT_BURST = 1000


_process_defaults_lock = threading.Lock()
_process_limiter: TokenBucketLimiter | None = None


def default_rate_limiter() -> TokenBucketLimiter:
    """The process-wide limiter, so clients built per request still share one budget per corp and API."""
    global _process_limiter
    with _process_defaults_lock:
        if _process_limiter is None:
            _process_limiter = TokenBucketLimiter(rate=DEFAULT_RATE_PER_SECOND, capacity=DEFAULT_BURST)
        return _process_limiter


class WeComClient(ApiClient):
    label = "wecom"
    transport_error = WeComTransportError
    token_invalid = WeComTokenInvalid
    error_for = staticmethod(error_for)
    retries_in_call = staticmethod(retries_in_call)

    def __init__(
        self,
        *,
        corp_id: str,
        secret: str,
        api_base: str = DEFAULT_API_BASE,
        token_store: TokenStore | None = None,
        rate_limiter: TokenBucketLimiter | None = None,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.corp_id = corp_id
        self.api_base = api_base if api_base.endswith("/") else api_base + "/"
        self._secret = secret
        self._http = http or httpx.Client(timeout=timeout)
        self._limiter = rate_limiter or default_rate_limiter()
        self._retry, self._sleep = retry, sleep
        self._tokens = AccessTokens(
            key=token_key(corp_id, secret), store=token_store or default_token_store(), fetch=self._gettoken
        )

    def __repr__(self) -> str:
        return f"WeComClient(corp_id={self.corp_id!r}, api_base={self.api_base!r})"

    def limit_key(self, api: str) -> str:
        return f"{self.corp_id}:{api}"

    # --- transport ---------------------------------------------------------------------------------------

    def _gettoken(self) -> IssuedToken:
        data = self._retrying(
            lambda: self._request(
                "GET", "gettoken", params={"corpid": self.corp_id, "corpsecret": self._secret}
            ),
            idempotent=True,
        )
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeComTransportError("gettoken answered without access_token", api="gettoken")
        return IssuedToken(token=token, expires_in=int(data.get("expires_in") or 7200))

    def _pages(self, fetch: Callable[[str], dict[str, Any]]) -> Iterator[dict[str, Any]]:
        cursor = ""
        while True:
            page = fetch(cursor)
            yield page
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return

    # --- organisation ------------------------------------------------------------------------------------

    def department_list(self, *, department_id: int | None = None) -> dict[str, Any]:
        """``department/list``: the department tree (below ``department_id``, or all visible)."""
        params = {} if department_id is None else {"id": department_id}
        return self.call("GET", "department/list", params=params, idempotent=True)

    def user_list(self, *, department_id: int, fetch_child: bool = False) -> dict[str, Any]:
        """``user/list``: members of a department (``userlist``)."""
        params = {"department_id": department_id, "fetch_child": int(fetch_child)}
        return self.call("GET", "user/list", params=params, idempotent=True)

    def send_app_message(
        self,
        *,
        agentid: int,
        msgtype: str,
        payload: Mapping[str, Any],
        touser: Sequence[str] = (),
        toparty: Sequence[str] = (),
        totag: Sequence[str] = (),
        duplicate_check_interval: int | None = None,
    ) -> dict[str, Any]:
        """``message/send``: an app message to members (client built with the app's secret).

        ``duplicate_check_interval`` (seconds, ≤ 4 h) turns on WeCom's own duplicate check for identical messages.
        """
        check = v.Check("message/send").required("agentid", agentid).required("msgtype", msgtype)
        check.required(msgtype, payload)
        if not (touser or toparty or totag):
            check.add("touser", "required")
        check.between("duplicate_check_interval", duplicate_check_interval, 1, 4 * 3600).done()
        body: dict[str, Any] = {"agentid": agentid, "msgtype": msgtype, msgtype: dict(payload)}
        for name, ids in (("touser", touser), ("toparty", toparty), ("totag", totag)):
            if ids:
                body[name] = "|".join(ids)
        if duplicate_check_interval:
            body.update(enable_duplicate_check=1, duplicate_check_interval=duplicate_check_interval)
        return self.call("POST", "message/send", body=body, idempotent=False)

    # --- contact ways (联系我 / channel live codes) ------------------------------------------------------

    def add_contact_way(
        self,
        *,
        type: int,  # WeCom's field name, shadowing the builtin on purpose
        scene: int,
        state: str = "",
        remark: str | None = None,
        user: Sequence[str] = (),
        party: Sequence[int] = (),
        skip_verify: bool = True,
        style: int | None = None,
        is_temp: bool = False,
        expires_in: int | None = None,
        chat_expires_in: int | None = None,
        unionid: str | None = None,
        is_exclusive: bool | None = None,
        conclusions: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``externalcontact/add_contact_way`` → ``config_id``, ``qr_code``. ``state`` ≤ 30 characters."""
        body = _compact(
            type=type, scene=scene, state=state, remark=remark, user=list(user), party=list(party),
            skip_verify=skip_verify, style=style, is_temp=is_temp or None, expires_in=expires_in,
            chat_expires_in=chat_expires_in, unionid=unionid, is_exclusive=is_exclusive, conclusions=conclusions,
        )  # fmt: skip
        v.check_contact_way(v.Check("add_contact_way"), body, creating=True).done()
        return self.call("POST", "externalcontact/add_contact_way", body=body, idempotent=False)

    def get_contact_way(self, *, config_id: str) -> dict[str, Any]:
        v.Check("get_contact_way").required("config_id", config_id).done()
        return self.call(
            "POST", "externalcontact/get_contact_way", body={"config_id": config_id}, idempotent=True
        )

    def update_contact_way(self, *, config_id: str, **changes: Any) -> dict[str, Any]:
        """``externalcontact/update_contact_way``: any of remark, skip_verify, style, state, user, party,
        expires_in, chat_expires_in, unionid, conclusions (type and scene cannot change)."""
        allowed = {"remark", "skip_verify", "style", "state", "user", "party", "expires_in", "chat_expires_in",
                   "unionid", "conclusions"}  # fmt: skip
        check = v.Check("update_contact_way").required("config_id", config_id)
        for name in sorted(set(changes) - allowed):
            check.add(name, "not_updatable")
        v.check_contact_way(check, changes, creating=False).done()
        body = {"config_id": config_id, **_compact(**changes)}
        return self.call("POST", "externalcontact/update_contact_way", body=body, idempotent=True)

    def del_contact_way(self, *, config_id: str) -> dict[str, Any]:
        v.Check("del_contact_way").required("config_id", config_id).done()
        return self.call(
            "POST", "externalcontact/del_contact_way", body={"config_id": config_id}, idempotent=False
        )

    # --- external contacts -------------------------------------------------------------------------------

    def get_follow_user_list(self) -> dict[str, Any]:
        """``externalcontact/get_follow_user_list``: members with the customer-contact feature (``follow_user``)."""
        return self.call("GET", "externalcontact/get_follow_user_list", idempotent=True)

    def list_external_contacts(self, *, userid: str) -> dict[str, Any]:
        """``externalcontact/list``: the ``external_userid`` list of one member (no paging)."""
        v.Check("externalcontact/list").required("userid", userid).done()
        return self.call("GET", "externalcontact/list", params={"userid": userid}, idempotent=True)

    def get_external_contact(self, *, external_userid: str, cursor: str = "") -> dict[str, Any]:
        """``externalcontact/get``: one customer and its follow users (paged at 500 by ``cursor``)."""
        v.Check("externalcontact/get").required("external_userid", external_userid).done()
        params = _compact(external_userid=external_userid, cursor=cursor or None)
        return self.call("GET", "externalcontact/get", params=params, idempotent=True)

    def batch_get_by_user(
        self, *, userid_list: Sequence[str], cursor: str = "", limit: int = 100
    ) -> dict[str, Any]:
        """``externalcontact/batch/get_by_user``: customers of up to 100 members, ``limit`` ≤ 100 per page."""
        check = v.Check("batch/get_by_user").count("userid_list", userid_list, low=1, high=v.BATCH_USERS_MAX)
        check.between("limit", limit, 1, v.BATCH_LIMIT_MAX).done()
        body = {"userid_list": list(userid_list), "cursor": cursor, "limit": limit}
        return self.call("POST", "externalcontact/batch/get_by_user", body=body, idempotent=True)

    def iter_batch_get_by_user(
        self, *, userid_list: Sequence[str], limit: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Every page of ``batch_get_by_user``, following ``next_cursor``."""
        return self._pages(
            lambda cursor: self.batch_get_by_user(userid_list=userid_list, cursor=cursor, limit=limit)
        )

    # --- corp tags ---------------------------------------------------------------------------------------

    def get_corp_tag_list(
        self, *, tag_id: Sequence[str] = (), group_id: Sequence[str] = ()
    ) -> dict[str, Any]:
        """``externalcontact/get_corp_tag_list``: all tag groups, or those filtered (``group_id`` wins)."""
        body = _compact(tag_id=list(tag_id) or None, group_id=list(group_id) or None)
        return self.call("POST", "externalcontact/get_corp_tag_list", body=body, idempotent=True)

    def add_corp_tag(
        self,
        *,
        tags: Sequence[Mapping[str, Any]],
        group_id: str | None = None,
        group_name: str | None = None,
        order: int | None = None,
    ) -> dict[str, Any]:
        """``externalcontact/add_corp_tag``: tags ``[{"name", "order"?}]`` into a group by id or (new) name."""
        check = v.Check("add_corp_tag").count("tag", tags, low=1, high=v.CORP_TAGS_MAX)
        if not group_id and not group_name:
            check.add("group_name", "group_id_or_group_name_required")
        check.max_chars("group_name", group_name, v.TAG_NAME_MAX_CHARS).between(
            "order", order, 0, v.TAG_ORDER_MAX
        )
        for tag in tags:
            check.required("tag.name", tag.get("name")).max_chars(
                "tag.name", tag.get("name"), v.TAG_NAME_MAX_CHARS
            )
            check.between("tag.order", tag.get("order"), 0, v.TAG_ORDER_MAX)
        check.done()
        body = _compact(group_id=group_id, group_name=group_name, order=order, tag=[dict(t) for t in tags])
        return self.call("POST", "externalcontact/add_corp_tag", body=body, idempotent=False)

    def mark_tag(
        self,
        *,
        userid: str,
        external_userid: str,
        add_tag: Sequence[str] = (),
        remove_tag: Sequence[str] = (),
    ) -> dict[str, Any]:
        """``externalcontact/mark_tag``: add and/or remove corp tags on one follow relation (no callback)."""
        check = v.Check("mark_tag").required("userid", userid).required("external_userid", external_userid)
        if not add_tag and not remove_tag:
            check.add("add_tag", "add_or_remove_required")
        check.done()
        body = {"userid": userid, "external_userid": external_userid, "add_tag": list(add_tag),
                "remove_tag": list(remove_tag)}  # fmt: skip
        return self.call("POST", "externalcontact/mark_tag", body=body, idempotent=True)

    # --- welcome messages and broadcasts ----------------------------------------------------------------

    def send_welcome_msg(
        self,
        *,
        welcome_code: str,
        text: Mapping[str, Any] | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """``externalcontact/send_welcome_msg`` within 20 s of the add event, once per code.

        Raises ``WelcomeCodeUsed`` (41051, final) at once; 41096 (another app is sending) is retried.
        """
        check = v.Check("send_welcome_msg").required("welcome_code", welcome_code)
        v.check_message(check, text, attachments).done()
        body = _compact(welcome_code=welcome_code, text=dict(text) if text else None,
                        attachments=[dict(a) for a in attachments] or None)  # fmt: skip
        return self.call("POST", "externalcontact/send_welcome_msg", body=body, idempotent=False)

    def add_msg_template(
        self,
        *,
        chat_type: str = "single",
        external_userid: Sequence[str] = (),
        chat_id_list: Sequence[str] = (),
        sender: str | None = None,
        text: Mapping[str, Any] | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
        tag_filter: Mapping[str, Any] | None = None,
        allow_select: bool | None = None,
    ) -> dict[str, Any]:
        """``externalcontact/add_msg_template``: a broadcast task the sender confirms in the client → ``msgid``,
        ``fail_list``. ≤ 10 000 customers (single) or ≤ 2 000 chats (group, sender required)."""
        check = v.Check("add_msg_template").one_of("chat_type", chat_type, ("single", "group"))
        check.count("external_userid", external_userid, high=v.TEMPLATE_CUSTOMERS_MAX)
        check.count("chat_id_list", chat_id_list, high=v.TEMPLATE_CHATS_MAX)
        if chat_type == "group":
            check.required("sender", sender)
            if external_userid:
                check.add("external_userid", "single_chats_only")
        elif chat_id_list:
            check.add("chat_id_list", "group_chats_only")
        v.check_message(check, text, attachments).done()
        body = _compact(
            chat_type=chat_type, external_userid=list(external_userid) or None, chat_id_list=list(chat_id_list) or None,
            sender=sender, text=dict(text) if text else None, attachments=[dict(a) for a in attachments] or None,
            tag_filter=tag_filter, allow_select=allow_select,
        )  # fmt: skip
        return self.call("POST", "externalcontact/add_msg_template", body=body, idempotent=False)

    def get_groupmsg_send_result(
        self, *, msgid: str, userid: str, cursor: str = "", limit: int = 500
    ) -> dict[str, Any]:
        """``externalcontact/get_groupmsg_send_result``: per-customer status of one sender's part of a broadcast
        (``send_list[{external_userid, chat_id, userid, status, send_time}]``, ``next_cursor``). 41063 = still
        dispatching: ask again later."""
        check = v.Check("get_groupmsg_send_result").required("msgid", msgid).required("userid", userid)
        check.between("limit", limit, 1, v.SEND_RESULT_LIMIT_MAX).done()
        body = {"msgid": msgid, "userid": userid, "cursor": cursor, "limit": limit}
        return self.call("POST", "externalcontact/get_groupmsg_send_result", body=body, idempotent=True)

    # --- customer groups ---------------------------------------------------------------------------------

    def groupchat_list(
        self,
        *,
        status_filter: int = 0,
        owner_userids: Sequence[str] = (),
        cursor: str = "",
        limit: int = 1000,
    ) -> dict[str, Any]:
        """``externalcontact/groupchat/list`` → ``group_chat_list[{chat_id, status}]``, ``next_cursor``."""
        check = v.Check("groupchat/list").one_of("status_filter", status_filter, (0, 1, 2, 3))
        check.count("owner_filter.userid_list", owner_userids, high=v.GROUPCHAT_OWNERS_MAX)
        check.between("limit", limit, 1, v.GROUPCHAT_LIMIT_MAX).done()
        body: dict[str, Any] = {"status_filter": status_filter, "cursor": cursor, "limit": limit}
        if owner_userids:
            body["owner_filter"] = {"userid_list": list(owner_userids)}
        return self.call("POST", "externalcontact/groupchat/list", body=body, idempotent=True)

    def groupchat_get(self, *, chat_id: str, need_name: bool = True) -> dict[str, Any]:
        """``externalcontact/groupchat/get``: one group with members, admins and ``member_version``."""
        v.Check("groupchat/get").required("chat_id", chat_id).done()
        body = {"chat_id": chat_id, "need_name": int(need_name)}
        return self.call("POST", "externalcontact/groupchat/get", body=body, idempotent=True)

    def add_join_way(
        self,
        *,
        chat_id_list: Sequence[str],
        state: str = "",
        remark: str | None = None,
        scene: int = 2,
        auto_create_room: bool = False,
        room_base_name: str | None = None,
        room_base_id: int | None = None,
    ) -> dict[str, Any]:
        """``externalcontact/groupchat/add_join_way`` (加入群聊, WeCom doc path/92229) → ``config_id``: scene 1
        mini-program / 2 QR, ≤ 5 groups, ``state`` ≤ 30 characters, a new group opened when all are full
        (``auto_create_room``, named ``room_base_name`` + ``room_base_id``)."""
        body = _compact(scene=scene, remark=remark, auto_create_room=int(auto_create_room),
                        room_base_name=room_base_name if auto_create_room else None,
                        room_base_id=room_base_id if auto_create_room else None,
                        chat_id_list=list(chat_id_list), state=state or None)  # fmt: skip
        v.check_join_way(v.Check("groupchat/add_join_way"), body, creating=True).done()
        return self.call("POST", "externalcontact/groupchat/add_join_way", body=body, idempotent=False)

    def get_join_way(self, *, config_id: str) -> dict[str, Any]:
        """``externalcontact/groupchat/get_join_way`` → ``join_way{config_id, scene, chat_id_list, qr_code, …}``."""
        v.Check("groupchat/get_join_way").required("config_id", config_id).done()
        body = {"config_id": config_id}
        return self.call("POST", "externalcontact/groupchat/get_join_way", body=body, idempotent=True)

    def update_join_way(self, *, config_id: str, scene: int = 2, **changes: Any) -> dict[str, Any]:
        """``externalcontact/groupchat/update_join_way``: the whole configuration again (scene and chat_id_list
        are required by WeCom on update too)."""
        if "auto_create_room" in changes:  # WeCom takes 0/1, not JSON booleans
            changes["auto_create_room"] = int(bool(changes["auto_create_room"]))
        body = {"config_id": config_id, "scene": scene, **_compact(**changes)}
        check = v.Check("groupchat/update_join_way").required("config_id", config_id)
        v.check_join_way(check, body, creating=True).done()
        return self.call("POST", "externalcontact/groupchat/update_join_way", body=body, idempotent=True)

    def del_join_way(self, *, config_id: str) -> dict[str, Any]:
        v.Check("groupchat/del_join_way").required("config_id", config_id).done()
        body = {"config_id": config_id}
        return self.call("POST", "externalcontact/groupchat/del_join_way", body=body, idempotent=False)

    # --- transfers ---------------------------------------------------------------------------------------

    def transfer_customer(
        self,
        *,
        handover_userid: str,
        takeover_userid: str,
        external_userid: Sequence[str],
        transfer_success_msg: str | None = None,
        resigned: bool = False,
    ) -> dict[str, Any]:
        """On-job (``transfer_customer``) or resigned (``resigned/transfer_customer``) inheritance of ≤ 100
        customers → ``customer[{external_userid, errcode}]``; WeCom hands over after 24 h."""
        api = "resigned/transfer_customer" if resigned else "transfer_customer"
        check = (
            v.Check(api)
            .required("handover_userid", handover_userid)
            .required("takeover_userid", takeover_userid)
        )
        check.count("external_userid", external_userid, low=1, high=v.TRANSFER_CUSTOMERS_MAX)
        check.max_chars("transfer_success_msg", transfer_success_msg, v.TRANSFER_MSG_MAX_CHARS)
        if handover_userid and handover_userid == takeover_userid:
            check.add("takeover_userid", "same_as_handover")  # WeCom's 40130
        if resigned and transfer_success_msg:
            check.add("transfer_success_msg", "on_job_transfer_only")
        check.done()
        body = _compact(handover_userid=handover_userid, takeover_userid=takeover_userid,
                        external_userid=list(external_userid), transfer_success_msg=transfer_success_msg)  # fmt: skip
        return self.call("POST", f"externalcontact/{api}", body=body, idempotent=False)

    def transfer_result(
        self, *, handover_userid: str, takeover_userid: str, cursor: str = "", resigned: bool = False
    ) -> dict[str, Any]:
        """``transfer_result`` → ``customer[{external_userid, status, takeover_time}]``, ``next_cursor``."""
        api = "resigned/transfer_result" if resigned else "transfer_result"
        check = (
            v.Check(api)
            .required("handover_userid", handover_userid)
            .required("takeover_userid", takeover_userid)
        )
        check.done()
        body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid, "cursor": cursor}
        return self.call("POST", f"externalcontact/{api}", body=body, idempotent=True)


def _compact(**fields: Any) -> dict[str, Any]:
    """Drop unset optional fields so WeCom applies its documented defaults."""
    return {k: v for k, v in fields.items() if v is not None}

