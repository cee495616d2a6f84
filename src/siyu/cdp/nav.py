"""The CDP's navigation entry (read by the console's registry; see console/navigation.py). The customer list
is the console's default ``cdp.profiles`` entry, which links to ``cdp_profiles`` once it exists."""

from django.utils.translation import gettext_lazy as _

NAV = [
    {"key": "cdp.merge_reviews", "section": "cdp", "label": _("Merge reviews"), "url_name": "cdp_merge_reviews",
     "permission": "cdp.profile.merge", "icon": "intersect", "order": 15,
     "summary": _("Merges the identity guard held back, to approve or reject; and the merge log, to undo one.")},
    {"key": "cdp.imports", "section": "cdp", "label": _("Import and export"), "url_name": "cdp_imports",
     "permission": "cdp.profile.create", "icon": "file-earmark-arrow-up", "order": 30,
     "summary": _("Customers in from CSV/XLSX files (mapping, dry run, error report) and out as CSV/XLSX.")},
    {"key": "cdp.sources", "section": "cdp", "label": _("Event sources"), "url_name": "cdp_sources",
     "permission": "cdp.source.manage", "icon": "broadcast", "order": 35,
     "summary": _("Websites, apps and servers that send events with a Segment SDK, and their write keys.")},
]

from .segments.nav import NAV as _SEGMENT_NAV  # noqa: E402  (segments and personas)

NAV += _SEGMENT_NAV
