"""Console pages: create a quote, submit it, approve it from the inbox, PDF, lists, forecast chart; another
organisation's quote is a 404 and a non-approver's decision changes nothing."""

from __future__ import annotations

from siyu.platform.approvals import services as approvals
from siyu.sales.models.commerce import Quote


def test_quote_flow_in_the_console(team, login_client, make_org):
    approvals.create_process(actor=team.admin, object_key="sales.quote", name="p",
                             steps=[{"mode": "any", "approvers": [{"kind": "manager"}]}])
    rep, manager, other = login_client(team.reps[0]), login_client(team.manager), login_client(team.reps[1])
    r = rep.post("/sales/commerce/quotes/", {"title": "演示报价", "customer_name": "丙公司", "line_name": "服务",
                                             "quantity": "3", "unit_price": "100.00", "discount": "0"})
    q = Quote.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/sales/commerce/quotes/{q.pk}/"
    assert "演示报价" in rep.get("/sales/commerce/quotes/").content.decode()
    rep.post(f"/sales/commerce/quotes/{q.pk}/", {"action": "submit"})
    q.refresh_from_db()
    assert q.status == "pending"
    req = approvals.visible_requests(team.actor(team.manager)).get()
    other.post(f"/sales/commerce/approvals/{req.pk}/", {"action": "approve"})
    q.refresh_from_db()
    assert q.status == "pending"
    page = manager.get("/sales/commerce/approvals/").content.decode()
    assert "演示报价" in page
    manager.post(f"/sales/commerce/approvals/{req.pk}/", {"action": "approve", "comment": "ok"})
    q.refresh_from_db()
    assert q.status == "approved"
    pdf = rep.get(f"/sales/commerce/quotes/{q.pk}/pdf/")
    assert pdf.status_code == 200 and pdf.content[:4] == b"%PDF"
    for url in ("/sales/commerce/contracts/", "/sales/commerce/receivables/?by=period",
                "/sales/commerce/forecast/?period=2026-Q4", f"/sales/commerce/quotes/{q.pk}/"):
        assert rep.get(url).status_code == 200, url
    assert rep.get("/sales/commerce/forecast.json?period=2026-11").json() == {"title": "2026-11", "items": []}
    stranger = login_client(make_org("Other"))
    assert stranger.get(f"/sales/commerce/quotes/{q.pk}/").status_code == 404
    assert stranger.post(f"/sales/commerce/quotes/{q.pk}/", {"action": "revise"}).status_code == 404
    assert Quote.objects.count() == 1
