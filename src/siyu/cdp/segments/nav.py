"""Navigation entries of segments and personas (``cdp/nav.py`` appends them; the segments entry replaces the
console's default ``cdp.segments`` placeholder with the same key)."""

from django.utils.translation import gettext_lazy as _

NAV = [
    {"key": "cdp.segments", "section": "cdp", "label": _("Segments"), "url_name": "cdp_segments",
     "permission": "cdp.segment.read", "icon": "diagram-3", "order": 20,
     "summary": _("Dynamic groups of customers defined by rules over profile fields, tags and behaviour.")},
    {"key": "cdp.personas", "section": "cdp", "label": _("Personas"), "url_name": "cdp_personas",
     "permission": "cdp.segment.read", "icon": "person-badge", "order": 25,
     "summary": _("Described target groups linked to segments, with their size and traits.")},
]
