"""Console URLs of the commerce pages, mounted at ``sales/commerce/``. The generic object pages
(``commerce_object_pages``) serve every slug of ``commerce_forms.KINDS``: ``products/``, ``price-books/``,
``quotes/``, ``contracts/``, ``orders/``, ``payment-plans/``, ``receipts/``, ``targets/``."""

from django.urls import path

from . import approval_process_pages as processes
from . import commerce_object_pages as objects
from . import commerce_pages as pages

urlpatterns = [
    path("quotes/", pages.quote_list, name="sales_quotes"),
    path("quotes/<int:quote_id>/", pages.quote_page, name="sales_quote"),
    path("quotes/<int:quote_id>/pdf/", pages.quote_pdf, name="sales_quote_pdf"),
    path("contracts/", objects.object_list, {"slug": "contracts"}, name="sales_contracts"),
    path("receivables/", pages.receivables_page, name="sales_receivables"),
    path("forecast/", pages.forecast_page, name="sales_forecast"),
    path("forecast.json", pages.forecast_json, name="sales_forecast_json"),
    path("approvals/", pages.approval_inbox, name="sales_approvals"),
    path("approvals/<int:request_id>/", pages.approval_decide, name="sales_approval_decide"),
    path("approval-processes/", processes.process_list, name="sales_approval_processes"),
    path("approval-processes/<int:process_id>/active/", processes.process_toggle,
         name="sales_approval_process_toggle"),
    path("saved-filters/", objects.saved_filter_save, name="sales_saved_filter_save"),
    path("saved-filters/<int:filter_id>/delete/", objects.saved_filter_delete, name="sales_saved_filter_delete"),
    *[path(f"{slug}/", objects.object_list, {"slug": slug}, name=f"sales_{slug.replace('-', '_')}")
      for slug in ("products", "price-books", "orders", "payment-plans", "receipts", "targets")],
    path("<slug:slug>/", objects.object_list, name="sales_objects"),
    path("<slug:slug>/new/", objects.object_create, name="sales_object_create"),
    path("<slug:slug>/<int:pk>/", objects.object_detail, name="sales_object"),
    path("<slug:slug>/<int:pk>/edit/", objects.object_edit, name="sales_object_edit"),
]
