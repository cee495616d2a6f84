"""The WeCom channel's console entries (read by the console's registry; the first replaces the console's default
``channels.wecom`` entry now that its page exists)."""

from django.utils.translation import gettext_lazy as _

NAV = [
    {"key": "channels.wecom", "section": "channels", "label": _("WeCom"), "url_name": "channels_wecom",
     "permission": "channels.wecom.read", "icon": "wechat", "order": 10,
     "summary": _("Connected WeCom corps, their callback URLs and syncs.")},
    {"key": "channels.wecom_live_codes", "section": "channels", "label": _("Channel live codes"),
     "url_name": "wecom_live_codes", "permission": "channels.livecode.read", "icon": "qr-code", "order": 11,
     "summary": _("QR codes that route customers to staff, tag them and send a welcome message.")},
    {"key": "channels.wecom_contacts", "section": "channels", "label": _("External contacts"),
     "url_name": "wecom_contacts", "permission": "channels.wecom.read", "icon": "person-lines-fill", "order": 12,
     "summary": _("WeChat users who added an employee, with their follow relations.")},
    {"key": "channels.wecom_employees", "section": "channels", "label": _("Employees"),
     "url_name": "wecom_employees", "permission": "channels.wecom.read", "icon": "person-badge", "order": 13,
     "summary": _("WeCom members and follow users, mapped to Siyu users.")},
    {"key": "channels.wecom_groups", "section": "channels", "label": _("Customer groups"),
     "url_name": "wecom_groups", "permission": "channels.wecom.read", "icon": "people", "order": 15,
     "summary": _("Customer groups, their members, group live codes and statistics.")},
    {"key": "channels.wecom_transfers", "section": "channels", "label": _("Customer transfers"),
     "url_name": "wecom_transfers", "permission": "channels.wecom.read", "icon": "arrow-left-right", "order": 16,
     "summary": _("Hand customers from one employee to another, and WeCom's results.")},
    {"key": "channels.wecom_callbacks", "section": "channels", "label": _("Callback log"),
     "url_name": "wecom_callbacks", "permission": "channels.wecom.read", "icon": "journal-code", "order": 14,
     "summary": _("Every callback WeCom sent, when it was processed and any error.")},
]
