"""Console entries of the commerce pages, registered at start-up by the approval wiring (``nav.py`` belongs to
the first half of sales)."""

from django.utils.translation import gettext_lazy as _

NAV = [
    {"key": "sales.quotes", "section": "sales", "label": _("Quotes"), "url_name": "sales_quotes",
     "permission": "sales.quote.read", "icon": "file-earmark-text", "order": 30},
    {"key": "sales.contracts", "section": "sales", "label": _("Contracts"), "url_name": "sales_contracts",
     "permission": "sales.contract.read", "icon": "file-earmark-check", "order": 31},
    {"key": "sales.products", "section": "sales", "label": _("Products"), "url_name": "sales_products",
     "permission": "sales.quote.read", "icon": "box-seam", "order": 28},
    {"key": "sales.price_books", "section": "sales", "label": _("Price books"), "url_name": "sales_price_books",
     "permission": "sales.quote.read", "icon": "journal-text", "order": 29},
    {"key": "sales.orders", "section": "sales", "label": _("Orders"), "url_name": "sales_orders",
     "permission": "sales.order.read", "icon": "cart-check", "order": 31},
    {"key": "sales.payment_plans", "section": "sales", "label": _("Payment plans"), "url_name": "sales_payment_plans",
     "permission": "sales.payment.read", "icon": "calendar-check", "order": 32},
    {"key": "sales.receipts", "section": "sales", "label": _("Receipts"), "url_name": "sales_receipts",
     "permission": "sales.payment.read", "icon": "cash-coin", "order": 32},
    {"key": "sales.targets", "section": "sales", "label": _("Sales targets"), "url_name": "sales_targets",
     "permission": "sales.target.read", "icon": "bullseye", "order": 33},
    {"key": "sales.receivables", "section": "sales", "label": _("Receivables"), "url_name": "sales_receivables",
     "permission": "sales.payment.read", "icon": "cash-coin", "order": 32},
    {"key": "sales.forecast", "section": "sales", "label": _("Forecast and targets"), "url_name": "sales_forecast",
     "permission": "sales.target.read", "icon": "graph-up", "order": 33},
    {"key": "sales.approvals", "section": "sales", "label": _("Approvals"), "url_name": "sales_approvals",
     "permission": "sales.quote.read", "icon": "check2-square", "order": 34},
    {"key": "sales.approval_processes", "section": "sales", "label": _("Approval processes"),
     "url_name": "sales_approval_processes", "permission": "platform.approval.manage", "icon": "diagram-3",
     "order": 35},
]
