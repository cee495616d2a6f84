"""Template helpers of the sales pages."""

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """``{{ names|get_item:lead.owner_id }}``: a dictionary lookup by a variable key."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def duration(seconds):
    """Seconds as "3 d 4 h", "5 h 12 min" or "7 min"."""
    if seconds in (None, ""):
        return "—"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
