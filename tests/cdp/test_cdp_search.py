"""Search: exact by phone, email and external id through the blind index; fuzzy by Chinese name (pg_trgm on
PostgreSQL, FTS5 with jieba tokens on SQLite), scoped to what the caller may see."""

from __future__ import annotations

import pytest
from django.db import connection

from siyu.cdp import search
from siyu.cdp.models import Profile
from siyu.kernel.actor import DataScope

BASE = "/api/v1/cdp"
NAMES = ["张子轩", "王伟", "欧阳建国", "李子轩", "王子涵", "张伟", "思域科技有限公司", "Alice Zhang", "张"]


@pytest.fixture
def people(api, send):
    ids = {}
    for n, name in enumerate(NAMES):
        body = {"name": name, "identifiers": [{"type": "phone", "value": f"1391234{n:04d}"}]}
        if name == "王伟":
            body["identifiers"] += [{"type": "email", "value": "wangwei@example.cn"},
                                    {"type": "wecom_external_userid", "value": "wmWangWei001", "namespace": "wwcorp"}]
        r = send(api, "post", f"{BASE}/accounts" if "公司" in name else f"{BASE}/profiles", body)
        assert r.status_code == 201, r.content
        ids[name] = r.json()["profile"]["id"]
    return ids


def found(api, q):
    r = api.get(f"{BASE}/profiles/search", {"q": q})
    assert r.status_code == 200, r.content
    return r.json()["match"], [p["name"] for p in r.json()["items"]]


def test_chinese_names_by_surname_given_name_and_fragment(api, people):
    assert found(api, "子轩") == ("name", ["李子轩", "张子轩"])  # given name, two people (newest first)
    assert found(api, "欧阳") == ("name", ["欧阳建国"])  # compound surname
    assert found(api, "建国") == ("name", ["欧阳建国"])  # given name after a compound surname
    assert found(api, "王伟") == ("name", ["王伟"])  # whole name
    assert found(api, "张")[1][:1] == ["张"]  # exact name first, then the rest of the 张 family
    assert sorted(found(api, "张")[1]) == ["张", "张伟", "张子轩"]
    # one character: any position in the FTS index; pg_trgm can only serve a surname (the start of a name)
    assert found(api, "伟") == ("name", ["张伟", "王伟"] if connection.vendor == "sqlite" else [])
    assert found(api, "科技有限") == ("name", ["思域科技有限公司"])  # a fragment inside a company name
    # two characters inside a longer name: a jieba word on SQLite; pg_trgm matches them only at either end
    assert found(api, "科技") == ("name", ["思域科技有限公司"] if connection.vendor == "sqlite" else [])
    assert found(api, "公司") == ("name", ["思域科技有限公司"])
    assert found(api, "alice") == ("name", ["Alice Zhang"])
    assert found(api, "王子") == ("name", ["王子涵"])
    assert found(api, "赵钱孙") == ("name", [])


def test_exact_search_by_phone_email_and_external_id(api, people):
    assert found(api, "+86 139-1234-0001") == ("exact", ["王伟"])
    assert found(api, "WangWei@Example.CN") == ("exact", ["王伟"])
    assert found(api, "wmWangWei001") == ("exact", ["王伟"])
    for q in ("type=phone&value=13912340001", "type=email&value=wangwei@example.cn",
              "type=wecom_external_userid&value=wmWangWei001&namespace=wwcorp"):
        r = api.get(f"{BASE}/profiles/lookup?{q}")
        assert (r.status_code, r.json()["name"]) == (200, "王伟"), q
    assert api.get(f"{BASE}/profiles/lookup?type=wecom_external_userid&value=wmWangWei001&namespace=other"
                   ).status_code == 404
    r = api.get(f"{BASE}/profiles/lookup?type=phone&value=123")
    assert (r.status_code, list(r.json()["fields"])) == (422, ["phone"])


def test_search_and_list_q_follow_renames_and_scope(api, send, people, member_with):
    pid = people["王伟"]
    send(api, "patch", f"{BASE}/profiles/{pid}", {"name": "王大伟"})
    assert found(api, "大伟") == ("name", ["王大伟"])
    assert [p["id"] for p in api.get(f"{BASE}/profiles", {"q": "大伟"}).json()["items"]] == [pid]
    assert [p["id"] for p in api.get(f"{BASE}/profiles", {"q": "wangwei@example.cn"}).json()["items"]] == [pid]
    from django.test import Client

    member_with("own@acme.example", scope=DataScope.OWN)
    c = Client()
    c.post("/login/", {"email": "own@acme.example", "password": "correct horse battery staple"})
    assert c.get(f"{BASE}/profiles/search", {"q": "大伟"}).json()["items"] == []
    assert c.get(f"{BASE}/profiles/search", {"q": "13912340001"}).json()["items"] == []


def test_name_tokens_and_rebuild(admin_actor, people):
    words, chars = search.name_tokens("欧阳建国")
    assert words.split() == ["欧阳建国", "欧阳", "建国"] and chars.split() == ["欧", "阳", "建", "国"]
    words, _ = search.name_tokens("思域科技有限公司")
    assert {"科技", "有限", "公司"} <= set(words.split())
    if connection.vendor != "sqlite":
        assert search.rebuild_index(actor=admin_actor) == 0
        return
    with connection.cursor() as cur:
        cur.execute("DELETE FROM cdp_profile_fts")
    assert search.name_matches(Profile.objects.all(), "子轩").count() == 0
    assert search.rebuild_index(actor=admin_actor) == len(NAMES)
    assert search.name_matches(Profile.objects.all(), "子轩").count() == 2


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgres_uses_the_trigram_index_for_name_search(admin_actor, people):
    qs = search.name_matches(Profile.objects.all(), "欧阳建国")
    with connection.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
        sql, params = qs.query.sql_with_params()
        cur.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("SET enable_seqscan = on")
    assert "cdp_profile_name_trgm" in plan
