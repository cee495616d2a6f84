"""The archive's entry on the CDP's 360° timeline: one per archived message, without its content (the timeline is
shown to everyone who sees the profile; the content is read on the archive's conversation page, which needs
``channels.archive.read`` and is audited)."""

from siyu.cdp.timeline import TimelineKind, register_kind

CHAT_MESSAGE = "wecom.chat_message"

register_kind(TimelineKind(CHAT_MESSAGE, "WeCom chat message", "bi-chat-dots",
                           lambda d: " · ".join(x for x in (d.get("employee", ""), d.get("direction", ""),
                                                            d.get("msgtype", "")) if x)))
