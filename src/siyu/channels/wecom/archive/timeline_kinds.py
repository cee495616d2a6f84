"""The archive's entry on the CDP's 360° timeline: one per archived message. Its content is not in the timeline
(shown to everyone who sees the profile); an "Open" link to the archive's conversation page, which decrypts,
needs ``channels.archive.read`` and audits each reading, is shown only to holders of that permission."""

from django.urls import reverse

from siyu.cdp.timeline import TimelineKind, register_kind

CHAT_MESSAGE = "wecom.chat_message"

register_kind(TimelineKind(CHAT_MESSAGE, "WeCom chat message", "bi-chat-dots",
                           lambda d: " · ".join(x for x in (d.get("employee", ""), d.get("direction", ""),
                                                            d.get("msgtype", "")) if x),
                           link=lambda profile_id, d: reverse("wecom_archive_conversation", args=[profile_id]),
                           link_permission="channels.archive.read"))
