"""Template messages: one send to one follower (consent first), and the delivery reports that come back.

``send_one`` is what the adapter calls per recipient. Before calling the platform it asks the CDP consent ledger
whether the follower's profile may be contacted for ``marketing`` on ``official_account``: no profile, no record
or a withdrawal means the recipient is ``SKIPPED`` (code ``consent:<reason>``) and nothing is sent. A follower
known to have unfollowed is ``UNREACHABLE`` without a call. The platform's ``client_msg_id`` is derived from the
idempotency key and the openid, so a retry after a lost answer is dropped by the platform itself (~10 minutes).

``TEMPLATESENDJOBFINISH`` (``on_report``) writes the delivery status (``success``, ``failed:user block``,
``failed: system failed`` …) on the ``TemplateSend`` row with that ``msgid``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from siyu.cdp.consent import may_contact
from siyu.cdp.timeline import add_entry
from siyu.channels.errors import ChannelRejected, RecipientUnreachable
from siyu.channels.ports import Recipient, RecipientResult, SendStatus
from siyu.kernel import clock

from . import timeline_kinds
from .client import OfficialAccountClient
from .followers import current_profile, system_actor
from .models import Account, CallbackLog, Follower, TemplateSend

PURPOSE = "marketing"
CHANNEL = "official_account"


def client_msg_id(idempotency_key: str, openid: str) -> str:
    return hashlib.sha256(f"{idempotency_key}\0{openid}".encode()).hexdigest()[:32]


def send_one(account: Account, client: OfficialAccountClient, *, idempotency_key: str, recipient: Recipient,
             payload: Mapping[str, Any]) -> RecipientResult:  # fmt: skip
    """Send the template ``payload`` (``template_id``, ``data``, ``url``/``miniprogram``) to one follower with the
    account's ``client`` (one per send, shared by its recipients)."""
    actor = system_actor(account)
    follower = Follower.objects.in_org(actor).filter(account=account, openid=recipient.address).first()
    if follower is not None and follower.event_at and not follower.subscribed:
        return RecipientResult(recipient, SendStatus.UNREACHABLE, code="unsubscribed")
    profile = current_profile(follower) if follower else None
    if profile is None:
        return RecipientResult(recipient, SendStatus.SKIPPED, code="consent:no_profile")
    answer = may_contact(actor=actor, profile=profile, purpose=PURPOSE, channel=CHANNEL)
    if not answer.allowed:
        return RecipientResult(recipient, SendStatus.SKIPPED, code=f"consent:{answer.reason}")
    try:
        sent = client.send_template(touser=recipient.address,
                                    client_msg_id=client_msg_id(idempotency_key, recipient.address),
                                    **payload)  # fmt: skip
    except RecipientUnreachable as exc:
        return RecipientResult(recipient, SendStatus.UNREACHABLE, code=str(exc.channel_code or ""))
    except ChannelRejected as exc:  # this recipient's message refused (an unknown template is a config error)
        return RecipientResult(recipient, SendStatus.FAILED, code=str(exc.channel_code or ""))
    msgid = str(sent.get("msgid") or "")
    TemplateSend.objects.create(org_id=account.org_id, account=account, openid=recipient.address, msgid=msgid,
                                idempotency_key=idempotency_key[:200])  # fmt: skip
    add_entry(profile=profile, kind=timeline_kinds.TEMPLATE_SENT, at=clock.now(), ref_type="official_account.template",
              ref_id=msgid, data={"account": account.name or account.appid, "template_id": payload["template_id"]})  # fmt: skip
    return RecipientResult(recipient, SendStatus.ACCEPTED, channel_message_id=msgid)


def on_report(account: Account, log: CallbackLog, message: dict[str, Any]) -> None:
    """``TEMPLATESENDJOBFINISH``: the delivery result of one template message."""
    msgid, status = str(message.get("MsgID") or ""), str(message.get("Status") or "")[:40]
    if not msgid or msgid == "0":  # reported as 0 when client_msg_id was used (protocol document §5)
        return
    TemplateSend.objects.in_org(system_actor(account)).filter(account=account, msgid=msgid).update(
        status=status, reported_at=log.event_time or clock.now())
