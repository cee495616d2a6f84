"""P12 requests (list, detail, lookup, search, timeline) read in a fixed number of queries whatever the data, and the
ones tightened for P12 answer exactly as before: same body, same data scope, same field security and masking."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from siyu.cdp.models import Profile, TimelineEntry
from siyu.kernel import clock
from siyu.kernel.actor import DataScope

BASE = "/api/v1/cdp"
PASSWORD = "correct horse battery staple"


def queries(client, url) -> tuple[int, dict]:
    client.get(url)  # warm: rate-limit counters, cached namespaces and metadata rows exist after the first call
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url)
    assert r.status_code == 200, r.content
    return len(ctx.captured_queries), r.json()


@pytest.fixture
def people(api, send):
    """``add(n)``: n more customers named 王小<i> in 上海 with an email, a phone, a WeCom id and a tag."""
    made: list[int] = []

    def add(n: int) -> list[int]:
        for _ in range(n):
            i = len(made)
            r = send(api, "post", f"{BASE}/profiles", {"name": f"王小{i}", "city": "上海", "identifiers": [
                {"type": "email", "value": f"p12-{i}@example.cn"}, {"type": "phone", "value": f"1391111{i:04d}"},
                {"type": "wecom_external_userid", "value": f"wmP12{i}", "namespace": "ww1"}]})
            assert r.status_code == 201, r.content
            made.append(r.json()["profile"]["id"])
            send(api, "post", f"{BASE}/profiles/{made[-1]}/tags", {"tags": [{"group": "g", "name": f"t{i % 3}"}]})
        return made

    return add


def test_lookup_reads_the_profile_once_in_as_many_queries_as_the_detail(api, people):
    pid = people(3)[1]
    lookups = [f"{BASE}/profiles/lookup?type=email&value=P12-1@Example.cn",
               f"{BASE}/profiles/lookup?type=phone&value=%2B86%20139%201111%200001",
               f"{BASE}/profiles/lookup?type=wecom_external_userid&value=wmP121&namespace=ww1"]
    detail_count, detail = queries(api, f"{BASE}/profiles/{pid}")
    for url in lookups:
        count, body = queries(api, url)
        assert (count, body) == (detail_count, detail)
    assert len(detail["identities"]) == 3
    assert not {"p12-1@example.cn", "13911110001", "wmP121"} & {v for i in detail["identities"] for v in i.values()}


def test_lookup_keeps_field_security_and_data_scope(api, people, member_with):
    pid = people(2)[0]
    member_with("p12-fs@acme.example", field_rules=[("city", "hidden"), ("identities", "hidden")])
    member_with("p12-own@acme.example", scope=DataScope.OWN)
    hidden, own = Client(), Client()
    assert hidden.post("/login/", {"email": "p12-fs@acme.example", "password": PASSWORD}).status_code == 302
    assert own.post("/login/", {"email": "p12-own@acme.example", "password": PASSWORD}).status_code == 302
    url = f"{BASE}/profiles/lookup?type=email&value=p12-0@example.cn"
    body = hidden.get(url).json()
    assert (body["id"], "city" in body, "identities" in body) == (pid, False, False)
    assert body == hidden.get(f"{BASE}/profiles/{pid}").json()
    assert own.get(url).status_code == 404


def test_list_search_lookup_and_timeline_queries_do_not_grow_with_the_data(api, people):
    urls = [f"{BASE}/profiles?limit=50&filter[city][eq]=上海", f"{BASE}/profiles/search?q=王小&limit=20",
            f"{BASE}/profiles/search?q=王&limit=20", f"{BASE}/profiles/lookup?type=email&value=p12-0@example.cn"]
    first = people(2)[0]
    timeline = f"{BASE}/profiles/{first}/timeline?limit=20"
    small = [queries(api, u)[0] for u in [*urls, timeline]]
    people(25)
    now = clock.now()
    org_id = Profile.objects.get(pk=first).org_id
    TimelineEntry.objects.bulk_create([TimelineEntry(org_id=org_id, profile_id=first, kind="event", at=now,
                                                     data={"name": f"e{i}"}) for i in range(30)])
    big = [queries(api, u) for u in [*urls, timeline]]
    # PostgreSQL's name search skips its last query once the earlier ones filled the page: fewer, never more
    assert all(c <= s for (c, _), s in zip(big, small, strict=True)), ([c for c, _ in big], small)
    assert [big[i][0] for i in (0, 3, 4)] == [small[i] for i in (0, 3, 4)]  # list, lookup, timeline: as many
    assert (len(big[0][1]["items"]), len(big[1][1]["items"]), len(big[4][1]["items"])) == (27, 20, 20)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgres_answers_name_prefixes_and_given_names_from_the_b_trees(api, send, org):
    for name in ("张子轩", "李子轩", "子轩", "王子涵"):
        assert send(api, "post", f"{BASE}/profiles", {"name": name}).status_code == 201
    from siyu.cdp import search
    from siyu.cdp.models import Profile

    qs = Profile.objects.filter(org_id=org.pk, status="active")
    assert sorted(p.name for p in search.name_matches(qs, "子轩")) == ["子轩", "张子轩", "李子轩"]
    assert [p.name for p in search.best_name_matches(qs, "子轩")] == ["子轩", "李子轩", "张子轩"]

    # enough other names for the planner to weigh the indexes (on a handful of rows any index will do)
    Profile.objects.bulk_create([Profile(org_id=org.pk, name=chr(0x4E00 + i * 7 % 3000) + chr(0x4E00 + i % 997))
                                 for i in range(3000)])

    def plan(condition) -> str:
        sql, params = qs.filter(condition).query.sql_with_params()
        with connection.cursor() as cur:
            cur.execute("ANALYZE cdp_profile")
            cur.execute("SET enable_seqscan = off")
            cur.execute("EXPLAIN " + sql, params)
            text = "\n".join(r[0] for r in cur.fetchall())
            cur.execute("SET enable_seqscan = on")
        return text

    # a range on the b-tree (~>=~ … ~<~), not a filter over the organisation's rows
    prefix, suffix = plan(search._pattern("子轩", "子轩%")), plan(search._ends_with("子轩"))
    assert "cdp_profile_name_prefix" in prefix and "~>=~" in prefix, prefix
    assert "cdp_profile_name_suffix" in suffix and "~>=~" in suffix, suffix


def test_search_reads_the_known_namespaces_in_one_cache_read(api, people, settings):
    if not settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
        pytest.skip("counts cache reads as queries: the database cache only")
    people(1)
    for q in ("王小", "wmP120"):
        api.get(f"{BASE}/profiles/search?q={q}")  # fills the cache
        with CaptureQueriesContext(connection) as ctx:
            body = api.get(f"{BASE}/profiles/search?q={q}").json()
        assert sum("cdp:namespaces" in x["sql"] for x in ctx.captured_queries) == 1
    assert (body["match"], [p["name"] for p in body["items"]]) == ("exact", ["王小0"])
