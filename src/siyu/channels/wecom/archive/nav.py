"""The conversation archive's console entry (read by the console's navigation registry)."""

from django.utils.translation import gettext_lazy as _

NAV = [
    {"key": "channels.wecom_archive", "section": "channels", "label": _("Conversation archive"),
     "url_name": "wecom_archive", "permission": "channels.archive.read", "icon": "archive", "order": 16,
     "summary": _("Archived WeCom chats of customers who agreed, sensitive-word and reply-timeout alerts.")},
]
