"""The broadcasts' console entry (read by the console's navigation registry)."""

from django.utils.translation import gettext_lazy as _

NAV = [
    {"key": "channels.wecom_broadcasts", "section": "channels", "label": _("Broadcasts"),
     "url_name": "wecom_broadcasts", "permission": "channels.broadcast.read", "icon": "megaphone", "order": 15,
     "summary": _("Messages to a segment's customers through their WeCom employees, with results per employee.")},
]
