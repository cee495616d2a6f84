"""WeCom request limits from the protocol document (§2.2), checked before a request is sent.

A request that breaks one raises ``ChannelValidationError`` with every offending field, so the console or API can
answer 422 instead of spending a call (and rate-limit budget) on a certain WeCom error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from siyu.channels.errors import ChannelValidationError

STATE_MAX_CHARS = 30  # add_contact_way / update_contact_way ``state``
CONTACT_WAY_REMARK_MAX_CHARS = 30
TEMP_EXPIRES_MAX = 14 * 86400  # temporary contact way validity, default 7 days
CHAT_EXPIRES_MAX = 14 * 86400  # temporary session, default 24 h
TAG_NAME_MAX_CHARS = 30  # tag and tag-group names
TAG_ORDER_MAX = 2**32 - 1
CORP_TAGS_MAX = 3000  # corp tags per corp
TEXT_MAX_BYTES = 4000  # welcome message and broadcast text
ATTACHMENTS_MAX = 9
ATTACHMENT_TYPES = ("image", "link", "miniprogram", "video", "file")
BATCH_USERS_MAX = 100  # batch/get_by_user userid_list
BATCH_LIMIT_MAX = 100
TEMPLATE_CUSTOMERS_MAX = 10_000  # add_msg_template external_userid (single chats)
TEMPLATE_CHATS_MAX = 2_000  # add_msg_template chat_id_list (group chats)
SEND_RESULT_LIMIT_MAX = 1_000  # get_groupmsg_send_result page size
GROUPCHAT_LIMIT_MAX = 1_000
GROUPCHAT_OWNERS_MAX = 100
TRANSFER_CUSTOMERS_MAX = 100
TRANSFER_MSG_MAX_CHARS = 200
JOIN_WAY_CHATS_MAX = 5  # groupchat/add_join_way chat_id_list (WeCom doc path/92229)
JOIN_WAY_ROOM_NAME_MAX_CHARS = 40


class Check:
    """Collects every broken limit of one request, then raises them together."""

    def __init__(self, api: str):
        self.api = api
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, code: str) -> None:
        self.errors.setdefault(field, []).append(code)

    def required(self, field: str, value: Any) -> Check:
        if value is None or value == "" or (isinstance(value, Sequence | Mapping) and not value):
            self.add(field, "required")
        return self

    def max_chars(self, field: str, value: str | None, limit: int) -> Check:
        if value is not None and len(value) > limit:
            self.add(field, f"max_{limit}_chars")
        return self

    def max_bytes(self, field: str, value: str | None, limit: int) -> Check:
        if value is not None and len(value.encode("utf-8")) > limit:
            self.add(field, f"max_{limit}_bytes")
        return self

    def count(self, field: str, items: Sequence[Any] | None, *, low: int = 0, high: int) -> Check:
        n = len(items or ())
        if n < low:
            self.add(field, f"min_{low}_items")
        elif n > high:
            self.add(field, f"max_{high}_items")
        return self

    def between(self, field: str, value: int | None, low: int, high: int) -> Check:
        if value is not None and not (low <= value <= high):
            self.add(field, f"between_{low}_{high}")
        return self

    def one_of(self, field: str, value: Any, allowed: Iterable[Any]) -> Check:
        if value not in tuple(allowed):
            self.add(field, "invalid_choice")
        return self

    def attachments(self, items: Sequence[Mapping[str, Any]] | None) -> Check:
        self.count("attachments", items, high=ATTACHMENTS_MAX)
        for item in items or ():
            kind = item.get("msgtype")
            if kind not in ATTACHMENT_TYPES or not isinstance(item.get(kind), Mapping):
                self.add("attachments", "invalid_attachment")
        return self

    def done(self) -> None:
        if self.errors:
            listed = ", ".join(f"{field}: {'/'.join(codes)}" for field, codes in sorted(self.errors.items()))
            raise ChannelValidationError(
                f"WeCom {self.api} request breaks limits ({listed})", fields=self.errors
            )


def check_message(
    check: Check, text: Mapping[str, Any] | None, attachments: Sequence[Mapping[str, Any]]
) -> Check:
    """Text (``{"content": …}``, ≤ 4000 bytes) and/or up to 9 attachments; not both empty."""
    content = (text or {}).get("content") or ""
    if not content and not attachments:
        check.add("text", "required")
    return check.max_bytes("text", content, TEXT_MAX_BYTES).attachments(attachments)


def check_contact_way(check: Check, fields: Mapping[str, Any], *, creating: bool) -> Check:
    """``add_contact_way`` / ``update_contact_way`` limits."""
    check.max_chars("state", fields.get("state"), STATE_MAX_CHARS)
    check.max_chars("remark", fields.get("remark"), CONTACT_WAY_REMARK_MAX_CHARS)
    check.between("expires_in", fields.get("expires_in"), 1, TEMP_EXPIRES_MAX)
    check.between("chat_expires_in", fields.get("chat_expires_in"), 1, CHAT_EXPIRES_MAX)
    if creating:
        kind = fields.get("type")
        check.one_of("type", kind, (1, 2)).one_of("scene", fields.get("scene"), (1, 2))
        users, parties = fields.get("user") or (), fields.get("party") or ()
        if kind == 1:
            check.count("user", users, low=1, high=1)
            if parties:
                check.add("party", "single_contact_way_has_no_party")
        elif kind == 2 and not users and not parties:
            check.add("user", "required")
        if fields.get("is_temp") and kind != 1:
            check.add("is_temp", "temporary_needs_single_type")
    return check


def check_join_way(check: Check, fields: Mapping[str, Any], *, creating: bool) -> Check:
    """``groupchat/add_join_way`` / ``update_join_way`` limits: scene 1 or 2, 1–5 groups, ``state`` and
    ``remark`` ≤ 30 characters, a base name for automatically created groups."""
    check.one_of("scene", fields.get("scene"), (1, 2))
    check.count("chat_id_list", fields.get("chat_id_list"), low=1, high=JOIN_WAY_CHATS_MAX)
    check.max_chars("state", fields.get("state"), STATE_MAX_CHARS)
    check.max_chars("remark", fields.get("remark"), CONTACT_WAY_REMARK_MAX_CHARS)
    if fields.get("auto_create_room"):
        check.required("room_base_name", fields.get("room_base_name"))
        check.max_chars("room_base_name", fields.get("room_base_name"), JOIN_WAY_ROOM_NAME_MAX_CHARS)
    return check
