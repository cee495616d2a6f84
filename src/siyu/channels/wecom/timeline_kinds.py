"""The WeCom entries on the CDP's 360° timeline (registered from ``WeComConfig.ready``)."""

from siyu.cdp.timeline import TimelineKind, register_kind

CONTACT_ADDED = "wecom.contact_added"
CONTACT_DELETED = "wecom.contact_deleted"

register_kind(TimelineKind(CONTACT_ADDED, "WeCom Contact Added", "bi-person-plus",
                           lambda d: " · ".join(x for x in (d.get("employee", ""), d.get("live_code", "")) if x)))
register_kind(TimelineKind(CONTACT_DELETED, "WeCom Contact Deleted", "bi-person-dash",
                           lambda d: " · ".join(x for x in (d.get("employee", ""), d.get("deleted_by", "")) if x)))
