"""A broadcast's message: its text and up to nine attachments (image, link, mini-program), checked field by field
before anything is stored, and turned into ``add_msg_template``'s ``text`` and ``attachments`` at send time.

Attachments are stored as the welcome messages store them (``{"kind": "image"|"link"|"miniprogram", …}``), so the
conversion to the channel's format is the one welcome messages use: ``welcome.content_of`` (port content) and
``content.to_wecom``; the whole request is checked against ``validation.check_message`` (≤ 4000 bytes, ≤ 9).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext as _

from siyu.channels.wecom import content as wecom_content
from siyu.channels.wecom import validation as v
from siyu.channels.wecom.welcome import KINDS, content_of

# WeCom's field limits of the attachments of add_msg_template / send_welcome_msg (path/92135, path/92137; not in
# ../shared/docs/wecom-protocol.md, checked against independent SDKs that quote the documents' parameter tables:
# "图文消息标题，最长为128字节", "图文消息的描述，最长为512字节", "小程序消息标题，最长为64字节").
LINK_TITLE_MAX_BYTES = 128
LINK_DESC_MAX_BYTES = 512
MINI_TITLE_MAX_BYTES = 64
# WeCom documents no limit for these: Siyu's own bounds, so that a stored broadcast stays a reasonable size.
URL_MAX_BYTES = 2048
MEDIA_ID_MAX_CHARS = 200
APPID_MAX_CHARS = 64
PAGE_MAX_CHARS = 500
# validation.py holds the request-wide limits (text bytes, attachment count).

# Every key a stored attachment may carry, per kind (the form and the API give no others).
FIELDS = {
    "image": ("url", "media_id"),
    "link": ("title", "url", "description", "picture_url"),
    "miniprogram": ("title", "appid", "page", "picture_media_id"),
}
FORM_FIELDS = ("kind", "url", "media_id", "title", "description", "picture_url", "appid", "page", "picture_media_id")


def attachments_from_form(post: Mapping[str, Any]) -> list[dict[str, str]]:
    """The console form's slots ``attachments-<n>-<field>`` (n < 9) as raw attachments; empty slots are left out."""
    items = []
    for n in range(v.ATTACHMENTS_MAX):
        raw = {f: str(post.get(f"attachments-{n}-{f}") or "").strip() for f in FORM_FIELDS}
        if any(raw.values()):
            items.append(raw)
    return items


def _too_long(value: str, limit: int) -> bool:
    return len(value.encode("utf-8")) > limit


def _web_url(value: str) -> bool:
    return value.startswith(("https://", "http://")) and not _too_long(value, URL_MAX_BYTES) and " " not in value


def clean_attachments(raw: Any) -> tuple[list[dict[str, str]], dict[str, list[str]]]:
    """``(attachments as stored, errors)``; errors are keyed ``attachments[n].field`` (n from 0), every problem
    of every attachment at once."""
    errors: dict[str, list[str]] = {}
    if raw in (None, ""):
        return [], errors
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return [], {"attachments": [_("a list of attachments")]}
    if len(raw) > v.ATTACHMENTS_MAX:
        errors["attachments"] = [_("at most %(n)d attachments (WeCom's limit)") % {"n": v.ATTACHMENTS_MAX}]
    cleaned: list[dict[str, str]] = []
    for n, item in enumerate(raw):
        def problem(field: str, message: str, n=n) -> None:
            errors.setdefault(f"attachments[{n}].{field}", []).append(message)

        item = dict(item) if isinstance(item, Mapping) else {}
        kind = str(item.get("kind") or "")
        if kind not in KINDS:
            problem("kind", _("choose image, link or mini-program"))
            continue
        values = {f: str(item.get(f) or "").strip() for f in FIELDS[kind]}
        if kind == "image":
            if bool(values["url"]) == bool(values["media_id"]):
                problem("url", _("give exactly one of an image URL or a media id"))
            elif values["url"] and not _web_url(values["url"]):
                problem("url", _("an http(s) address of at most %(n)d bytes") % {"n": URL_MAX_BYTES})
            elif len(values["media_id"]) > MEDIA_ID_MAX_CHARS:
                problem("media_id", _("at most %(n)d characters") % {"n": MEDIA_ID_MAX_CHARS})
        elif kind == "link":
            if not values["title"]:
                problem("title", _("required"))
            elif _too_long(values["title"], LINK_TITLE_MAX_BYTES):
                problem("title", _("at most %(n)d bytes") % {"n": LINK_TITLE_MAX_BYTES})
            if not values["url"]:
                problem("url", _("required"))
            elif not _web_url(values["url"]):
                problem("url", _("an http(s) address of at most %(n)d bytes") % {"n": URL_MAX_BYTES})
            if _too_long(values["description"], LINK_DESC_MAX_BYTES):
                problem("description", _("at most %(n)d bytes") % {"n": LINK_DESC_MAX_BYTES})
            if values["picture_url"] and not _web_url(values["picture_url"]):
                problem("picture_url", _("an http(s) address of at most %(n)d bytes") % {"n": URL_MAX_BYTES})
        else:
            if not values["title"]:
                problem("title", _("required"))
            elif _too_long(values["title"], MINI_TITLE_MAX_BYTES):
                problem("title", _("at most %(n)d bytes") % {"n": MINI_TITLE_MAX_BYTES})
            for field, limit in (("appid", APPID_MAX_CHARS), ("page", PAGE_MAX_CHARS),
                                 ("picture_media_id", MEDIA_ID_MAX_CHARS)):
                if not values[field]:
                    problem(field, _("required"))  # WeCom requires the cover's media id for broadcasts too
                elif len(values[field]) > limit:
                    problem(field, _("at most %(n)d characters") % {"n": limit})
        cleaned.append({"kind": kind, **{f: value for f, value in values.items() if value}})
    return cleaned, errors


def to_wecom(text: str, attachments: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any] | None, list[dict]]:
    """``add_msg_template``'s ``text`` and ``attachments`` for a stored message (the welcome messages' mapping)."""
    content = content_of({"text": text, "attachments": list(attachments)})
    if content is None:
        return None, []
    return wecom_content.to_wecom(content)

