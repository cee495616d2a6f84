"""The official-account channel's console entries (the first replaces the console's default
``channels.official_account`` entry now that its page exists)."""

from django.utils.translation import gettext_lazy as _

NAV = [
    {"key": "channels.official_account", "section": "channels", "label": _("Official account"),
     "url_name": "channels_official_account", "permission": "channels.official_account.read", "icon": "broadcast",
     "order": 20, "summary": _("Connected official accounts and their callback URLs.")},
    {"key": "channels.official_account_qr", "section": "channels", "label": _("Parametric QR codes"),
     "url_name": "official_account_qr_codes", "permission": "channels.official_account.read", "icon": "qr-code",
     "order": 21, "summary": _("QR codes with a scene: who followed or scanned through each one.")},
]
