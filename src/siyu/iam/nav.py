"""iam's console entries beyond the defaults the console declares for it (read by the console's autodiscover;
plain dictionaries, so iam imports nothing of the console). The sign-in security page (``account_security``)
is for every person, so it belongs in the user menu rather than in permission-filtered navigation."""

from django.utils.translation import gettext_lazy as _

NAV = [
    {"key": "settings.organization", "section": "settings", "label": _("Organisation"), "url_name": "iam_organization",
     "permission": "iam.organization.manage", "icon": "building-gear", "order": 5},
]
