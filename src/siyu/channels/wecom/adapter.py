"""``WeComAdapter``: the ``ChannelAdapter`` port for one connected corp (``registry.adapter("wecom", org_id=…,
account=corp_id)``; ``account=None`` is the organisation's first active corp).

How each operation reaches WeCom (protocol document §2.2):

* ``send_direct`` to an external contact (``Recipient.address`` = ``external_userid``, ``sender`` = the follow
  user, found from the follow relation when empty): WeCom offers no server push to customers, so it is a
  one-customer ``add_msg_template`` task the employee confirms in the client → ``ACCEPTED`` with the ``msgid``.
  To a corp member (an ``address`` that is an employee's userid and no external contact, or ``user:<id>`` for
  the member a Siyu user is mapped to — how other contexts, which know users, not WeCom ids, notify people): an
  app message (``message/send`` with the app's agent id and secret) → ``SENT``; ``user:<id>`` with no member in
  this corp is ``UNREACHABLE`` (code ``not_a_member``).
* ``send_group``: ``add_msg_template`` with ``chat_type=group`` and the owner as sender.
* ``broadcast``: one ``add_msg_template`` per sender (≤ 10 000 customers each); customers in WeCom's
  ``fail_list`` (not a friend, or over their receive cap) are ``UNREACHABLE``, the rest ``ACCEPTED``.
* ``sync_contacts``: ``batch/get_by_user`` over the follow users, 100 at a time; the cursor (opaque to
  callers) remembers the block and WeCom's own cursor.
* ``sync_tags``: ``get_corp_tag_list``.

Idempotency: every send's key and request hash are kept in ``SendRecord`` after WeCom accepted it; the same key
and request return the stored result without calling WeCom, another request with that key raises
``IdempotencyConflict``. A send that failed is not recorded: its key stays free for the retry.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from siyu.channels import ledger
from siyu.channels.errors import ChannelConfigError
from siyu.channels.ports import (
    Capabilities,
    ChannelAdapter,
    ChannelTag,
    ChannelTagGroup,
    Contact,
    ContactPage,
    FollowRelation,
    GroupTarget,
    MessageContent,
    Recipient,
    RecipientResult,
    SendResult,
    SendStatus,
)
from siyu.channels.wecom import content as wecom_content
from siyu.kernel.errors import NotFound, ValidationFailed

from .contacts import at_from, system_actor, tag_ids_of
from .corps import client_for, default_corp
from .models import Corp, Employee, ExternalContact, SendRecord
from .models import FollowRelation as FollowRow


def adapter_factory(*, org_id: int, account: str | None = None) -> WeComAdapter:
    try:
        return WeComAdapter(default_corp(org_id, account))
    except NotFound as exc:
        raise ChannelConfigError(str(exc.message)) from None


USER_PREFIX = "user:"  # a Siyu user id as a direct recipient: the corp member mapped to that user


class WeComAdapter(ChannelAdapter):
    key = "wecom"

    def __init__(self, corp: Corp):
        self.corp = corp

    def __repr__(self) -> str:
        return f"WeComAdapter(corp_id={self.corp.corp_id!r})"

    def capabilities(self) -> Capabilities:
        return wecom_content.CAPABILITIES

    # --- sends -----------------------------------------------------------------------------------------------

    def send_direct(self, *, idempotency_key: str, recipient: Recipient, content: MessageContent) -> SendResult:
        self.check_content(content)
        return self._once("direct", idempotency_key, _request_hash("direct", content, [recipient]),
                          lambda: self._direct(idempotency_key, recipient, content))

    def send_group(self, *, idempotency_key: str, group: GroupTarget, content: MessageContent) -> SendResult:
        self.check_content(content)
        if not group.sender:
            raise ValidationFailed("sender required", fields={"sender": ["the group owner sends"]})

        def send() -> SendResult:
            text, attachments = wecom_content.to_wecom(content)
            answer = client_for(self.corp).add_msg_template(chat_type="group", chat_id_list=[group.chat_id],
                                                            sender=group.sender, text=text, attachments=attachments)
            failed = set(answer.get("fail_list") or ())
            status = SendStatus.UNREACHABLE if group.chat_id in failed else SendStatus.ACCEPTED
            msgid = str(answer.get("msgid") or "")
            return SendResult(idempotency_key, (RecipientResult(group, status, channel_message_id=msgid),),
                              (msgid,) if msgid else ())

        return self._once("group", idempotency_key, _request_hash("group", content, [group]), send)

    def broadcast(self, *, idempotency_key: str, recipients: Sequence[Recipient],
                  content: MessageContent) -> SendResult:
        self.check_content(content)
        recipients = list(recipients)
        limit = self.capabilities().max_broadcast_recipients or len(recipients)
        if len(recipients) > limit:
            raise ValidationFailed("too many recipients", fields={"recipients": [f"at most {limit}"]})

        def send() -> SendResult:
            senders = self._senders([r for r in recipients if not r.sender])
            by_sender: dict[str, list[Recipient]] = {}
            unreachable: set[int] = set()
            for n, r in enumerate(recipients):
                sender = r.sender or senders.get(r.address, "")
                if sender:
                    by_sender.setdefault(sender, []).append(r)
                else:
                    unreachable.add(n)
            text, attachments = wecom_content.to_wecom(content)
            client = client_for(self.corp)
            failed: set[str] = set()
            msgids: dict[str, str] = {}
            for sender, group in sorted(by_sender.items()):
                answer = client.add_msg_template(chat_type="single", external_userid=[r.address for r in group],
                                                 sender=sender, text=text, attachments=attachments)
                failed.update(answer.get("fail_list") or ())
                msgids[sender] = str(answer.get("msgid") or "")
            results = []
            for n, r in enumerate(recipients):
                sender = r.sender or senders.get(r.address, "")
                if n in unreachable or r.address in failed:
                    results.append(RecipientResult(r, SendStatus.UNREACHABLE, code="84061" if n in unreachable
                                                   else "fail_list"))
                else:
                    results.append(RecipientResult(r, SendStatus.ACCEPTED, channel_message_id=msgids[sender]))
            return SendResult(idempotency_key, tuple(results), tuple(m for m in msgids.values() if m))

        return self._once("broadcast", idempotency_key, _request_hash("broadcast", content, recipients), send)

    def _direct(self, key: str, recipient: Recipient, content: MessageContent) -> SendResult:
        actor = system_actor(self.corp)
        if recipient.address.startswith(USER_PREFIX):
            user_id = recipient.address[len(USER_PREFIX):]
            userid = Employee.objects.in_org(actor).filter(
                corp=self.corp, membership__user_id=int(user_id) if user_id.isdigit() else -1,
            ).values_list("userid", flat=True).first()
            if userid is None:
                return SendResult(key, (RecipientResult(recipient, SendStatus.UNREACHABLE, code="not_a_member"),))
            return self._app_message(key, recipient, content, userid=userid)
        is_contact = ExternalContact.objects.in_org(actor).filter(corp=self.corp,
                                                                  external_userid=recipient.address).exists()
        is_member = Employee.objects.in_org(actor).filter(corp=self.corp, userid=recipient.address).exists()
        if not is_contact and is_member:
            return self._app_message(key, recipient, content)
        sender = recipient.sender or self._senders([recipient]).get(recipient.address, "")
        if not sender:
            return SendResult(key, (RecipientResult(recipient, SendStatus.UNREACHABLE, code="84061"),))
        text, attachments = wecom_content.to_wecom(content)
        answer = client_for(self.corp).add_msg_template(chat_type="single", external_userid=[recipient.address],
                                                        sender=sender, text=text, attachments=attachments)
        msgid = str(answer.get("msgid") or "")
        if recipient.address in (answer.get("fail_list") or ()):
            return SendResult(key, (RecipientResult(recipient, SendStatus.UNREACHABLE, code="fail_list"),))
        return SendResult(key, (RecipientResult(recipient, SendStatus.ACCEPTED, channel_message_id=msgid),),
                          (msgid,) if msgid else ())

    def _app_message(self, key: str, recipient: Recipient, content: MessageContent, *,
                     userid: str | None = None) -> SendResult:
        if not self.corp.agent_id:
            raise ChannelConfigError("this corp has no app configured for app messages")
        client = client_for(self.corp, app=True)
        touser = [userid or recipient.address]
        msgid = ""
        if content.text:
            answer = client.send_app_message(agentid=self.corp.agent_id, msgtype="text",
                                             payload={"content": content.text}, touser=touser)
            msgid = str(answer.get("msgid") or "")
        for item in content.attachments:
            msgtype, payload = _app_payload(item)
            answer = client.send_app_message(agentid=self.corp.agent_id, msgtype=msgtype, payload=payload,
                                             touser=touser)
            msgid = msgid or str(answer.get("msgid") or "")
        return SendResult(key, (RecipientResult(recipient, SendStatus.SENT, channel_message_id=msgid),),
                          (msgid,) if msgid else ())

    def _senders(self, recipients: Sequence[Recipient]) -> dict[str, str]:
        """external_userid → the employee of its most recent live follow relation."""
        addresses = [r.address for r in recipients]
        rows = (FollowRow.objects.in_org(system_actor(self.corp))
                .filter(corp=self.corp, external_contact__external_userid__in=addresses, deleted=False, half=False)
                .order_by("added_at").values_list("external_contact__external_userid", "employee__userid"))
        return dict(rows)

    def _once(self, method: str, key: str, request_hash: str, send) -> SendResult:
        records = SendRecord.objects.in_org(system_actor(self.corp)).filter(corp=self.corp)
        return ledger.once(records=records, create=lambda **f: SendRecord.objects.create(
            org_id=self.corp.org_id, corp=self.corp, **f), method=method, key=key, request_hash=request_hash,
            send=send)

    # --- syncs -----------------------------------------------------------------------------------------------

    def sync_contacts(self, *, cursor: str | None = None) -> ContactPage:
        state = _decode_cursor(cursor)
        client = client_for(self.corp)
        # Re-read on every page (one cheap call) instead of carrying the list in the cursor; sorted, so stable.
        follow = sorted(client.get_follow_user_list().get("follow_user") or [])
        block = int(state.get("block") or 0)
        chunk = follow[block * 100:(block + 1) * 100]
        if not chunk:
            return ContactPage(contacts=(), next_cursor=None)
        page = client.batch_get_by_user(userid_list=chunk, cursor=str(state.get("cursor") or ""), limit=100)
        found = tuple(_contact(item) for item in page.get("external_contact_list") or ())
        if page.get("next_cursor"):
            nxt = {"block": block, "cursor": page["next_cursor"]}
        elif (block + 1) * 100 < len(follow):
            nxt = {"block": block + 1, "cursor": ""}
        else:
            nxt = None
        return ContactPage(contacts=found, next_cursor=_encode_cursor(nxt) if nxt else None)

    def sync_tags(self) -> tuple[ChannelTagGroup, ...]:
        data = client_for(self.corp).get_corp_tag_list()
        groups = []
        for g in data.get("tag_group") or ():
            if g.get("deleted"):
                continue
            tags = tuple(ChannelTag(tag_id=str(t.get("id")), name=str(t.get("name") or ""),
                                    order=int(t.get("order") or 0)) for t in g.get("tag") or () if not t.get("deleted"))
            groups.append(ChannelTagGroup(group_id=str(g.get("group_id")), name=str(g.get("group_name") or ""),
                                          order=int(g.get("order") or 0), tags=tags))
        return tuple(groups)


# --- helpers ---------------------------------------------------------------------------------------------------


def _app_payload(item: Any) -> tuple[str, dict[str, Any]]:
    """An attachment as an app message (``message/send`` types): images by media id, links as ``news``."""
    attachment = wecom_content._attachment(item)
    kind = attachment["msgtype"]
    if kind == "link":
        link = attachment["link"]
        return "news", {"articles": [{"title": link["title"], "url": link["url"],
                                      "description": link.get("desc", ""), "picurl": link.get("picurl", "")}]}
    if kind == "image" and "media_id" not in attachment["image"]:
        return "news", {"articles": [{"title": attachment["image"]["pic_url"], "url": attachment["image"]["pic_url"],
                                      "picurl": attachment["image"]["pic_url"]}]}
    if kind == "miniprogram":
        mini = attachment["miniprogram"]
        return "miniprogram_notice", {"appid": mini["appid"], "page": mini["page"], "title": mini["title"]}
    return kind, attachment[kind]


def _contact(item: dict[str, Any]) -> Contact:
    data = item.get("external_contact") or {}
    info = item.get("follow_info") or {}
    follow = FollowRelation(employee_id=str(info.get("userid") or ""), remark=str(info.get("remark") or ""),
                            added_at=at_from(info.get("createtime")), add_way=info.get("add_way"),
                            state=str(info.get("state") or ""), tag_ids=tuple(tag_ids_of(info)))
    return Contact(address=str(data.get("external_userid") or ""), name=str(data.get("name") or ""),
                   unionid=str(data.get("unionid") or ""), avatar_url=str(data.get("avatar") or ""),
                   follows=(follow,), raw=item)


def _request_hash(method: str, content: MessageContent, targets: Sequence[Recipient | GroupTarget]) -> str:
    text, attachments = wecom_content.to_wecom(content)
    body = {"m": method, "text": text, "attachments": attachments,
            "targets": [[getattr(t, "address", getattr(t, "chat_id", "")), t.sender] for t in targets]}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise ValidationFailed("bad cursor", fields={"cursor": ["not a cursor this adapter issued"]}) from None
    if not isinstance(state, dict) or not str(state.get("block", 0)).isdigit():
        raise ValidationFailed("bad cursor", fields={"cursor": ["not a cursor this adapter issued"]})
    return state
