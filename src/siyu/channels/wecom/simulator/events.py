"""Plaintext XML of the callback events WeCom and the official account send (protocol document §3, §5).

Strings go into CDATA sections, integers as text, nested lists as ``<Item>`` children (the newer
``MemChangeList`` form). Values come from the simulator's own state, but a name typed on the web page could hold
``]]>``: such a section is split, so the XML stays well formed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Field = tuple[str, "str | int | Sequence[str]"]


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def to_xml(fields: Iterable[Field]) -> str:
    parts = ["<xml>"]
    for name, value in fields:
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        elif isinstance(value, str):
            parts.append(f"<{name}>{_cdata(value)}</{name}>")
        else:
            items = "".join(f"<Item>{_cdata(str(item))}</Item>" for item in value)
            parts.append(f"<{name}>{items}</{name}>")
    parts.append("</xml>")
    return "".join(parts)


def wecom_event(corp_id: str, create_time: int, event: str, change_type: str | None, *extra: Field) -> str:
    """A self-built-app event: ``FromUserName`` is ``sys`` for customer-contact and contact events (§3.1)."""
    fields: list[Field] = [
        ("ToUserName", corp_id),
        ("FromUserName", "sys"),
        ("CreateTime", create_time),
        ("MsgType", "event"),
        ("Event", event),
    ]
    if change_type is not None:
        fields.append(("ChangeType", change_type))
    fields.extend(extra)
    return to_xml(fields)


def change_external_contact(corp_id: str, create_time: int, change_type: str, *extra: Field) -> str:
    return wecom_event(corp_id, create_time, "change_external_contact", change_type, *extra)


def change_external_chat(corp_id: str, create_time: int, change_type: str, *extra: Field) -> str:
    return wecom_event(corp_id, create_time, "change_external_chat", change_type, *extra)


def change_external_tag(corp_id: str, create_time: int, change_type: str, tag_id: str, tag_type: str) -> str:
    return wecom_event(
        corp_id, create_time, "change_external_tag", change_type, ("Id", tag_id), ("TagType", tag_type)
    )


def oa_event(original_id: str, openid: str, create_time: int, event: str, *extra: Field) -> str:
    """An official-account event: ``ToUserName`` is the account's original id (``gh_…``), ``FromUserName`` the
    follower's openid."""
    fields: list[Field] = [
        ("ToUserName", original_id),
        ("FromUserName", openid),
        ("CreateTime", create_time),
        ("MsgType", "event"),
        ("Event", event),
        *extra,
    ]
    return to_xml(fields)
