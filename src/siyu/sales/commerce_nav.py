"""Console entries of the commerce pages, registered at start-up by the approval wiring (``nav.py`` belongs to
the first half of sales)."""

from django.utils.translation import gettext_lazy as _

NAV = [
    {"key": "sales.quotes", "section": "sales", "label": _("Quotes"), "url_name": "sales_quotes",
     "permission": "sales.quote.read", "icon": "file-earmark-text", "order": 30},
    {"key": "sales.contracts", "section": "sales", "label": _("Contracts"), "url_name": "sales_contracts",
     "permission": "sales.contract.read", "icon": "file-earmark-check", "order": 31},
    {"key": "sales.receivables", "section": "sales", "label": _("Receivables"), "url_name": "sales_receivables",
     "permission": "sales.payment.read", "icon": "cash-coin", "order": 32},
    {"key": "sales.forecast", "section": "sales", "label": _("Forecast and targets"), "url_name": "sales_forecast",
     "permission": "sales.target.read", "icon": "graph-up", "order": 33},
    {"key": "sales.approvals", "section": "sales", "label": _("Approvals"), "url_name": "sales_approvals",
     "permission": "sales.quote.read", "icon": "check2-square", "order": 34},
]
