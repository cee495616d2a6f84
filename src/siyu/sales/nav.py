"""Sales' console entries (read by the console's registry; see console/navigation.py). ``sales.leads`` and
``sales.opportunities`` replace the console's placeholders of the same keys."""

from django.utils.translation import gettext_lazy as _

NAV = [
    {"key": "sales.dashboard", "section": "sales", "label": _("Sales dashboard"), "url_name": "sales_dashboard",
     "permission": "sales.dashboard.read", "icon": "speedometer", "order": 5},
    {"key": "sales.leads", "section": "sales", "label": _("Leads"), "url_name": "sales_leads",
     "permission": "sales.lead.read", "icon": "funnel", "order": 10},
    {"key": "sales.pools", "section": "sales", "label": _("Lead pools"), "url_name": "sales_pools",
     "permission": "sales.pool.read", "icon": "inboxes", "order": 15},
    {"key": "sales.opportunities", "section": "sales", "label": _("Opportunities"), "url_name": "sales_opportunities",
     "permission": "sales.opportunity.read", "icon": "kanban", "order": 20},
    {"key": "sales.calendar", "section": "sales", "label": _("Tasks and visits"), "url_name": "sales_calendar",
     "permission": "sales.activity.read", "icon": "calendar3", "order": 25},
    {"key": "sales.rules", "section": "sales", "label": _("Assignment rules"), "url_name": "sales_rules",
     "permission": "sales.rule.manage", "icon": "diagram-3", "order": 40},
    {"key": "sales.pipelines", "section": "sales", "label": _("Pipelines"), "url_name": "sales_pipelines",
     "permission": "sales.pipeline.manage", "icon": "sliders", "order": 45},
    {"key": "sales.forms", "section": "sales", "label": _("Web forms"), "url_name": "sales_forms",
     "permission": "sales.form.manage", "icon": "ui-checks", "order": 50},
]
