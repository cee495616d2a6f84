"""Welcome messages (欢迎语): the live code's content as stored, as the port's ``MessageContent``, and sending it
with the add event's ``WelcomeCode`` (protocol document §2.2, ``send_welcome_msg``).

WeCom accepts a welcome code once and only within 20 s of the event. The client already retries 41096 (another app
is sending) and never retries 41051 (already delivered or the chat started); 41050 (invalid or expired code) is
final too. A retryable failure (WeCom busy or unreachable after the client's own retries) is raised, so the job
runs again a few seconds later; the outcome is kept on the follow relation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from siyu.channels.errors import ChannelError, ChannelValidationError
from siyu.channels.ports import Image, Link, MessageContent, MiniProgram
from siyu.channels.wecom import content as wecom_content
from siyu.channels.wecom import validation as v
from siyu.channels.wecom.errors import WelcomeCodeUsed

from .corps import client_for
from .models import Corp, FollowRelation, WelcomeStatus

logger = logging.getLogger(__name__)

KINDS = ("image", "link", "miniprogram")


def content_of(welcome: Mapping[str, Any]) -> MessageContent | None:
    """The stored welcome (``{"text", "attachments": [{"kind": "image"|"link"|"miniprogram", …}]}``) as port
    content; None when it is empty. Raises ``ChannelValidationError`` for a malformed attachment."""
    text = str(welcome.get("text") or "")
    items = []
    for n, raw in enumerate(welcome.get("attachments") or ()):
        if not isinstance(raw, Mapping) or raw.get("kind") not in KINDS:
            raise ChannelValidationError("bad attachment", fields={f"attachments.{n}": ["unknown kind"]})
        kind = raw["kind"]
        try:
            if kind == "image":
                items.append(Image(media_id=str(raw.get("media_id") or ""), url=str(raw.get("url") or "")))
            elif kind == "link":
                items.append(Link(title=str(raw.get("title") or ""), url=str(raw.get("url") or ""),
                                  description=str(raw.get("description") or ""),
                                  picture_url=str(raw.get("picture_url") or "")))
            else:
                items.append(MiniProgram(title=str(raw.get("title") or ""), appid=str(raw.get("appid") or ""),
                                         page=str(raw.get("page") or ""),
                                         picture_media_id=str(raw.get("picture_media_id") or "")))
        except ChannelValidationError as exc:
            raise ChannelValidationError(exc.message, fields={f"attachments.{n}": [exc.message]}) from None
    if not text and not items:
        return None
    return MessageContent(text=text, attachments=tuple(items))


def clean_welcome(welcome: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a welcome message against WeCom's limits (≤ 4000 bytes of text, ≤ 9 attachments) before storing."""
    welcome = dict(welcome or {})
    content = content_of(welcome)
    if content is None:
        return {}
    text, attachments = wecom_content.to_wecom(content)
    check = v.Check("welcome")
    v.check_message(check, text, attachments).done()
    return {"text": content.text, "attachments": [dict(a) for a in welcome.get("attachments") or ()]}


def send(corp: Corp, relation: FollowRelation, *, welcome_code: str, welcome: Mapping[str, Any]) -> str:
    """Send the welcome with ``welcome_code``; records and returns the relation's ``welcome_status``."""
    content = content_of(welcome) if welcome else None
    if not welcome_code or content is None:
        return relation.welcome_status
    if relation.deleted:
        status = WelcomeStatus.SKIPPED  # the customer is gone (a deletion processed before this add)
    else:
        text, attachments = wecom_content.to_wecom(content)
        try:
            client_for(corp).send_welcome_msg(welcome_code=welcome_code, text=text, attachments=attachments)
            status = WelcomeStatus.SENT
        except WelcomeCodeUsed:
            status = WelcomeStatus.ALREADY
        except ChannelError as exc:
            if exc.retryable:
                raise  # busy or unreachable: the job is retried in a few seconds, still inside the window
            logger.warning("wecom welcome for relation %s failed: %s", relation.pk, type(exc).__name__)
            status = WelcomeStatus.FAILED
    relation.welcome_status = status
    relation.save(update_fields=["welcome_status", "updated_at"])
    return status
