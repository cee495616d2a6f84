"""Port message content → WeCom's ``text`` and ``attachments`` (welcome messages and broadcasts).

Field names follow WeCom's customer-contact message APIs: images by ``media_id`` or ``pic_url``; links with
``title``, ``picurl``, ``desc``, ``url``; mini-programs with ``title``, ``pic_media_id``, ``appid``, ``page``.
"""

from __future__ import annotations

from typing import Any

from siyu.channels.ports import Capabilities, ContentKind, Image, Link, MessageContent, MiniProgram
from siyu.channels.wecom import validation as v

CAPABILITIES = Capabilities(
    channel="wecom",
    content_kinds=frozenset(ContentKind),
    direct_message=True,
    group_message=True,
    broadcast=True,
    contact_sync=True,
    tag_sync=True,
    max_attachments=v.ATTACHMENTS_MAX,
    max_text_bytes=v.TEXT_MAX_BYTES,
    max_broadcast_recipients=v.TEMPLATE_CUSTOMERS_MAX,
)


def to_wecom(content: MessageContent) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``(text, attachments)`` ready for ``send_welcome_msg`` / ``add_msg_template``."""
    text = {"content": content.text} if content.text else None
    return text, [_attachment(a) for a in content.attachments]


def _attachment(item: Image | Link | MiniProgram) -> dict[str, Any]:
    if isinstance(item, Image):
        image = {"media_id": item.media_id} if item.media_id else {"pic_url": item.url}
        return {"msgtype": "image", "image": image}
    if isinstance(item, Link):
        link = {"title": item.title, "url": item.url}
        if item.picture_url:
            link["picurl"] = item.picture_url
        if item.description:
            link["desc"] = item.description
        return {"msgtype": "link", "link": link}
    mini = {"title": item.title, "appid": item.appid, "page": item.page}
    if item.picture_media_id:
        mini["pic_media_id"] = item.picture_media_id
    return {"msgtype": "miniprogram", "miniprogram": mini}
