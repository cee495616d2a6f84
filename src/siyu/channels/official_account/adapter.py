"""``OfficialAccountAdapter``: the ``ChannelAdapter`` port for one connected official account
(``registry.adapter("official_account", org_id=…, account=appid)``; ``account=None`` is the organisation's first
active account).

* ``send_direct``: a template message (``message/template/send``) with the account's configured template: the
  text goes into its ``template_field`` (``{"content": {"value": text}}``), a ``Link`` becomes the message's
  ``url``, a ``MiniProgram`` its ``miniprogram`` (the platform prefers the mini-program when both are set).
  ``Recipient.address`` is the follower's openid. Consent is checked per recipient (``templates.send_one``):
  without a grant for ``marketing`` on ``official_account`` the recipient is ``SKIPPED``.
* ``broadcast``: the same template message to each recipient (the platform has no template broadcast); a
  recipient's refusal is its status, a whole-account failure (quota, credentials) raises.
* ``send_group``: official accounts have no group chats → ``ChannelRejected``.
* ``sync_contacts``: ``user/get`` pages of 10 000 openids; the cursor is the platform's ``next_openid``.
* ``sync_tags``: no corp tags here → ``()``.

Idempotency as every adapter (``channels.ledger.once`` over ``SendRecord``), plus the platform's own
``client_msg_id`` per recipient.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from siyu.channels import ledger
from siyu.channels.errors import ChannelConfigError, ChannelRejected
from siyu.channels.ports import (
    Capabilities,
    ChannelAdapter,
    ChannelTagGroup,
    Contact,
    ContactPage,
    ContentKind,
    GroupTarget,
    Link,
    MessageContent,
    MiniProgram,
    Recipient,
    SendResult,
)
from siyu.kernel.errors import NotFound

from . import templates
from .accounts import client_for, default_account
from .followers import system_actor
from .models import Account, SendRecord

CAPABILITIES = Capabilities(
    channel="official_account",
    content_kinds=frozenset({ContentKind.TEXT, ContentKind.LINK, ContentKind.MINIPROGRAM}),
    direct_message=True,
    broadcast=True,
    contact_sync=True,
    max_attachments=1,
)


def adapter_factory(*, org_id: int, account: str | None = None) -> OfficialAccountAdapter:
    try:
        return OfficialAccountAdapter(default_account(org_id, account))
    except NotFound as exc:
        raise ChannelConfigError(str(exc.message)) from None


class OfficialAccountAdapter(ChannelAdapter):
    key = "official_account"

    def __init__(self, account: Account):
        self.account = account

    def __repr__(self) -> str:
        return f"OfficialAccountAdapter(appid={self.account.appid!r})"

    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    def payload(self, content: MessageContent) -> dict[str, Any]:
        """The template message body (without ``touser``) for ``content``."""
        self.check_content(content)
        if not self.account.template_id:
            raise ChannelConfigError("the official account has no template configured")
        body: dict[str, Any] = {"template_id": self.account.template_id,
                                "data": {self.account.template_field or "content": {"value": content.text}}}
        for item in content.attachments:
            if isinstance(item, Link):
                body["url"] = item.url
            elif isinstance(item, MiniProgram):
                body["miniprogram"] = {"appid": item.appid, "pagepath": item.page}
        return body

    def send_direct(self, *, idempotency_key: str, recipient: Recipient, content: MessageContent) -> SendResult:
        return self.broadcast(idempotency_key=idempotency_key, recipients=[recipient], content=content,
                              method="direct")  # fmt: skip

    def broadcast(self, *, idempotency_key: str, recipients: Sequence[Recipient], content: MessageContent,
                  method: str = "broadcast") -> SendResult:  # fmt: skip
        payload = self.payload(content)

        def send() -> SendResult:
            client = client_for(self.account)  # one client for every recipient (the process's shared pool)
            results = tuple(templates.send_one(self.account, client, idempotency_key=idempotency_key,
                                               recipient=r, payload=payload) for r in recipients)  # fmt: skip
            ids = tuple(r.channel_message_id for r in results if r.channel_message_id)
            return SendResult(idempotency_key, results, ids)

        records = SendRecord.objects.in_org(system_actor(self.account)).filter(account=self.account)
        return ledger.once(records=records, create=lambda **f: SendRecord.objects.create(
            org_id=self.account.org_id, account=self.account, **f), method=method, key=idempotency_key,
            request_hash=_request_hash(method, payload, recipients), send=send)  # fmt: skip

    def send_group(self, *, idempotency_key: str, group: GroupTarget, content: MessageContent) -> SendResult:
        raise ChannelRejected("official accounts have no group chats")

    def sync_contacts(self, *, cursor: str | None = None) -> ContactPage:
        page = client_for(self.account).followers(next_openid=cursor or "")
        openids = (page.get("data") or {}).get("openid") or []
        contacts = tuple(Contact(address=str(o)) for o in openids)
        return ContactPage(contacts=contacts, next_cursor=str(page.get("next_openid") or "") or None)

    def sync_tags(self) -> tuple[ChannelTagGroup, ...]:
        return ()


def _request_hash(method: str, payload: dict[str, Any], recipients: Sequence[Recipient]) -> str:
    body = {"m": method, "payload": payload, "to": [[r.address, r.sender] for r in recipients]}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
