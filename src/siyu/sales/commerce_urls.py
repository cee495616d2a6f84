"""Console URLs of the commerce pages, mounted at ``sales/commerce/``."""

from django.urls import path

from . import commerce_pages as pages

urlpatterns = [
    path("quotes/", pages.quote_list, name="sales_quotes"),
    path("quotes/<int:quote_id>/", pages.quote_page, name="sales_quote"),
    path("quotes/<int:quote_id>/pdf/", pages.quote_pdf, name="sales_quote_pdf"),
    path("contracts/", pages.contract_list, name="sales_contracts"),
    path("receivables/", pages.receivables_page, name="sales_receivables"),
    path("forecast/", pages.forecast_page, name="sales_forecast"),
    path("forecast.json", pages.forecast_json, name="sales_forecast_json"),
    path("approvals/", pages.approval_inbox, name="sales_approvals"),
    path("approvals/<int:request_id>/", pages.approval_decide, name="sales_approval_decide"),
]
