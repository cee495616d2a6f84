"""Export: streamed CSV/XLSX of the customers the actor may see, masked unless it may unmask, formula payloads
neutralised, audited before the first byte."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from siyu.audit.models import AuditLogEntry
from siyu.cdp import profiles
from siyu.kernel.actor import DataScope

URL = "/api/v1/cdp/imports/export"
FORMULA = "=cmd|' /C calc'!A0"


def _seed(actor):
    profiles.create_profile(actor=actor, data={"name": FORMULA, "city": "@SUM(1)"},
                            identifiers=[{"type": "phone", "value": "13800138001"},
                                         {"type": "email", "value": "zw@example.cn"}])
    profiles.tag_profile(actor=actor, profile_id=_first(actor), tags=[("价值", "VIP")])


def _first(actor):
    from siyu.cdp.models import Profile

    return Profile.objects.in_org(actor).order_by("pk").first().pk


def _csv(response) -> list[str]:
    assert response.streaming
    return b"".join(response.streaming_content).decode("utf-8-sig").splitlines()


def test_csv_is_masked_neutralised_and_audited(api_client, org, admin_actor):
    _seed(admin_actor)
    client = api_client(org, scopes=["cdp.profile.read", "cdp.profile.export"])
    r = client.get(URL, HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 200 and r["Content-Type"] == "text/csv; charset=utf-8"
    lines = _csv(r)
    assert lines[0] == ("ID,Name,Kind,Gender,Birthday,Province,City,Source,Channel,Lifecycle stage,Owner,Created,"
                        "Mobile phone,Email,WeCom external_userid,WeChat unionid,WeChat openid,ERP customer id,"
                        "Segment userId,Segment anonymousId,Device id,Segment groupId,Tags")
    assert FORMULA not in lines[1].replace("'" + FORMULA, "")  # never without the prefix
    assert "'=cmd|' /C calc'!A0" in lines[1] and "'@SUM(1)" in lines[1]
    assert "138****8001" in lines[1] and "z***@example.cn" in lines[1] and "13800138001" not in lines[1]
    assert "价值/VIP" in lines[1]
    entry = AuditLogEntry.objects.filter(action="export").order_by("-seq").first()
    assert (entry.object_type, entry.meta["count"], entry.meta["format"], entry.meta["unmasked"]) == (
        "cdp.profile", 1, "csv", False)


def test_unmask_permission_shows_clear_values_and_says_so(api_client, org, admin_actor):
    _seed(admin_actor)
    client = api_client(org, scopes=["cdp.profile.read", "cdp.profile.export", "cdp.profile.unmask"])
    lines = _csv(client.get(URL))
    assert "+8613800138001" in lines[1] and "zw@example.cn" in lines[1]
    entry = AuditLogEntry.objects.filter(action="export").order_by("-seq").first()
    assert entry.meta["unmasked"] is True


def test_xlsx_cells_are_text_never_formulas(api, admin_actor):
    _seed(admin_actor)
    r = api.get(URL + "?format=xlsx", HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(b"".join(r.streaming_content)))
    ws = wb.active
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    name_col = rows[0].index("Name")
    assert rows[1][name_col] == "'" + FORMULA
    assert all(c.data_type == "s" for row in ws.iter_rows() for c in row if c.value is not None)


def test_export_is_scoped_to_what_the_actor_may_see(org, admin_actor, member_with, login_client):
    _seed(admin_actor)
    member, member_actor = member_with("own@acme.example", permissions=("cdp.profile.*",), scope=DataScope.OWN)
    profiles.create_profile(actor=member_actor, data={"name": "自己的"},
                            identifiers=[{"type": "phone", "value": "13900139002"}])
    lines = _csv(login_client(member).get(URL))
    assert len(lines) == 2 and "自己的" in lines[1]
    console = login_client(member).get("/customers/import/export/?format=csv")
    assert console.status_code == 200 and len(_csv(console)) == 2


def test_bad_format_and_no_permission(api_client, org, member_with, login_client):
    assert api_client(org).get(URL + "?format=pdf").status_code == 422
    member, _ = member_with("none@acme.example", permissions=("cdp.tag.manage",))
    assert login_client(member).get(URL).status_code == 403


def test_export_is_its_own_permission(api_client, org, admin_actor, member_with, login_client, make_org):
    """Reading customers is not exporting them: a sales rep (read + update) sees the list but cannot take it
    away; the sales manager's and administrator's roles include the export."""
    from siyu.iam.models import Role

    _seed(admin_actor)
    before = AuditLogEntry.objects.filter(action="export").count()
    assert api_client(org, scopes=["cdp.profile.read"]).get(URL).status_code == 403
    assert api_client(org, scopes=["cdp.profile.export"]).get(URL).status_code == 403  # and it needs read
    rep, _ = member_with("rep@acme.example", permissions=("cdp.profile.read", "cdp.profile.update"))
    client = login_client(rep)
    assert client.get("/customers/").status_code == 200
    assert client.get(URL).status_code == 403
    assert client.get("/customers/import/export/?format=csv").status_code == 403
    page = client.get("/customers/import/")
    assert b"/customers/import/export/" not in page.content
    assert AuditLogEntry.objects.filter(action="export").count() == before  # nothing left the system
    # the default roles: managers and administrators export, reps do not
    other = make_org("Fresh").org
    roles = {r.name: r for r in Role.objects.filter(org=other)}
    from siyu.kernel.permissions import matches

    def grants(role, op):
        return any(matches(g, op) for g in role.permissions)

    assert grants(roles["Administrator"], "cdp.profile.export")
    assert grants(roles["Sales manager"], "cdp.profile.export")
    assert not grants(roles["Sales rep"], "cdp.profile.export")
