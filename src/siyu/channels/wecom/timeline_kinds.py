"""The WeCom entries on the CDP's 360° timeline (registered from ``WeComConfig.ready``)."""

from siyu.cdp.timeline import TimelineKind, register_kind

CONTACT_ADDED = "wecom.contact_added"
CONTACT_DELETED = "wecom.contact_deleted"
GROUP_JOINED = "wecom.group_joined"
GROUP_LEFT = "wecom.group_left"
TRANSFERRED = "wecom.transferred"

register_kind(TimelineKind(CONTACT_ADDED, "WeCom Contact Added", "bi-person-plus",
                           lambda d: " · ".join(x for x in (d.get("employee", ""), d.get("live_code", "")) if x)))
register_kind(TimelineKind(CONTACT_DELETED, "WeCom Contact Deleted", "bi-person-dash",
                           lambda d: " · ".join(x for x in (d.get("employee", ""), d.get("deleted_by", "")) if x)))
register_kind(TimelineKind(GROUP_JOINED, "Joined a WeCom group", "bi-people", lambda d: d.get("group", "")))
register_kind(TimelineKind(GROUP_LEFT, "Left a WeCom group", "bi-people", lambda d: d.get("group", "")))
register_kind(TimelineKind(TRANSFERRED, "WeCom customer transferred", "bi-arrow-left-right",
                           lambda d: " → ".join(x for x in (d.get("from", ""), d.get("to", "")) if x)))
