"""Console pages of quotes, contracts, receivables, forecasts and the approval inbox (mounted at
``sales/commerce/``). Same rule as the API: parse, call one service or selector, render; a refused write is a
message and leaves nothing behind; other organisations' or out-of-scope records are the audited 404."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.kernel import clock
from siyu.kernel.errors import DomainError, PermissionDenied
from siyu.platform.approvals import selectors as approval_selectors
from siyu.platform.approvals import services as approvals

from .models.commerce import Quote
from .pages import _attempt, sales_page  # one refusal-to-message path for all sales pages
from .services.commerce import forecasts, orders, pdf, quotes
from .services.commerce.base import visible


@sales_page("sales.quote.read")
def quote_list(request, actor):
    if request.method == "POST":
        if not actor.can("sales.quote.create"):
            raise PermissionDenied("missing permission sales.quote.create")
        p = request.POST
        data = {"title": p.get("title", ""), "customer_name": p.get("customer_name", ""),
                "lines": [{"name": p.get("line_name", ""), "quantity": p.get("quantity") or "1",
                           "unit_price": p.get("unit_price", ""), "discount_percent": p.get("discount") or "0"}]}
        q = _attempt(request, lambda: quotes.create_quote(actor=actor, data=data), _("Quote created."))
        if q is not None:
            return HttpResponseRedirect(reverse("sales_quote", args=[q.pk]))
    from .commerce_object_pages import object_list

    return object_list(request, "quotes")  # the generic list: custom columns, filters, saved filters


@sales_page("sales.quote.read")
def quote_page(request, actor, quote_id: int):
    q = visible(Quote, actor, quote_id)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "submit":
            _attempt(request, lambda: quotes.submit_quote(actor=actor, quote_id=q.pk,
                                                          comment=request.POST.get("comment", "")),
                     _("Submitted for approval."))
        elif action == "revise":
            new = _attempt(request, lambda: quotes.revise_quote(actor=actor, quote_id=q.pk), _("New version."))
            if new is not None:
                return HttpResponseRedirect(reverse("sales_quote", args=[new.pk]))
        return HttpResponseRedirect(reverse("sales_quote", args=[q.pk]))
    req = approval_selectors.latest_for_object(actor, "sales.quote", str(q.pk))
    return render(request, "sales/commerce/quote.html", {
        "quote": q, "lines": q.lines.order_by("order", "id"), "approval": req,
        "versions": Quote.objects.visible_to(actor).filter(number=q.number).order_by("version")})


@sales_page("sales.quote.read")
def quote_pdf(request, actor, quote_id: int):
    q = visible(Quote, actor, quote_id)
    resp = HttpResponse(pdf.render_quote_pdf(q), content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="{q.number}-v{q.version}.pdf"'
    return resp


@sales_page("sales.payment.read")
def receivables_page(request, actor):
    by = request.GET.get("by", "customer")
    by = by if by in {"customer", "owner", "period"} else "customer"
    return render(request, "sales/commerce/receivables.html", {"by": by, "rows": orders.receivables(actor, by=by)})


def _period(request) -> str:
    period = request.GET.get("period") or timezone.localdate(clock.now()).strftime("%Y-%m")
    try:
        forecasts.period_bounds(period)
    except DomainError:
        period = timezone.localdate(clock.now()).strftime("%Y-%m")
    return period


@sales_page("sales.target.read")
def forecast_page(request, actor):
    period = _period(request)
    return render(request, "sales/commerce/forecast.html", {
        "period": period, "rows": forecasts.forecast(actor, period=period, by="owner"),
        "teams": forecasts.forecast(actor, period=period, by="team"),
        "targets": forecasts.target_progress(actor, period=period)})


@sales_page("sales.target.read")
def forecast_json(request, actor):
    """For the console's ECharts bar chart: weighted forecast per owner (amounts in yuan)."""
    from siyu.iam.models import Membership

    period = _period(request)
    rows = forecasts.forecast(actor, period=period, by="owner")
    names = {m.user_id: (m.user.name or m.user.email) for m in
             Membership.objects.in_org(actor).filter(user_id__in=[r["key"] for r in rows]).select_related("user")}
    return JsonResponse({"title": period, "items": [{"name": names.get(r["key"], "—"), "count": float(r["forecast"])}
                                                    for r in rows]})


@sales_page("sales.quote.read")
def approval_inbox(request, actor):
    todo = approval_selectors.requests_for(actor, box="todo").order_by("-id")[:100]
    mine = approval_selectors.requests_for(actor, box="mine").order_by("-id")[:50]
    notices = approval_selectors.inbox(actor).order_by("-id")[:30]
    return render(request, "sales/commerce/approvals.html", {"todo": todo, "mine": mine, "notices": notices})


@require_POST
@sales_page("sales.quote.read")
def approval_decide(request, actor, request_id: int):
    action = request.POST.get("action")
    comment = request.POST.get("comment", "")
    if action in {"approve", "reject"}:
        _attempt(request, lambda: approvals.decide(actor=actor, request_id=request_id, approve=action == "approve",
                                                    comment=comment), _("Decision recorded."))
    elif action == "recall":
        _attempt(request, lambda: approvals.recall(actor=actor, request_id=request_id, comment=comment),
                 _("Recalled."))
    return HttpResponseRedirect(reverse("sales_approvals"))
