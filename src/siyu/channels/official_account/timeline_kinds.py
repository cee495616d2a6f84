"""The official account's entries on the CDP's 360° timeline (registered from ``OfficialAccountConfig.ready``)."""

from django.utils.translation import gettext_noop

from siyu.cdp.timeline import TimelineKind, register_kind

SUBSCRIBED = "official_account.subscribed"
UNSUBSCRIBED = "official_account.unsubscribed"
SCANNED = "official_account.scanned"
TEMPLATE_SENT = "official_account.template_sent"


def _summary(data: dict) -> str:
    return " · ".join(x for x in (data.get("account", ""), data.get("qr_code") or data.get("scene", "")) if x)


register_kind(TimelineKind(SUBSCRIBED, gettext_noop("Official account followed"), "bi-broadcast", _summary))
register_kind(TimelineKind(UNSUBSCRIBED, gettext_noop("Official account unfollowed"), "bi-x-circle", _summary))
register_kind(TimelineKind(SCANNED, gettext_noop("Official account QR code scanned"), "bi-qr-code-scan", _summary))
register_kind(TimelineKind(TEMPLATE_SENT, gettext_noop("Template message sent"), "bi-envelope",
                           lambda d: " · ".join(x for x in (d.get("account", ""), d.get("status", "")) if x)))
