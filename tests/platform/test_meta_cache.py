"""Object metadata memoised per process: one cache read instead of two queries, and never stale after a change
made by this or (through the shared generation token) another process."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from siyu.platform import meta_cache, selectors, services


def test_second_read_is_one_cache_read_and_the_same_metadata(admin_actor):
    first = selectors.object_meta(admin_actor, "sales.lead")
    with CaptureQueriesContext(connection) as queries:
        second = selectors.object_meta(admin_actor, "sales.lead")
    assert second is first
    # the database cache (the default without Redis) reads the token with one query; definitions are not read
    assert not any("platform_" in q["sql"] for q in queries.captured_queries), queries.captured_queries
    assert len(queries.captured_queries) <= 1


def test_a_change_is_seen_at_once_in_the_same_transaction(admin_actor):
    assert selectors.object_meta(admin_actor, "sales.lead").custom_field("budget") is None
    services.create_field(actor=admin_actor, object_key="sales.lead", key="budget", label="Budget", type="integer")
    assert selectors.object_meta(admin_actor, "sales.lead").custom_field("budget") is not None
    services.update_field(actor=admin_actor, object_key="sales.lead", field_key="budget", label="预算")
    assert selectors.object_meta(admin_actor, "sales.lead").custom_field("budget").label == "预算"
    services.archive_field(actor=admin_actor, object_key="sales.lead", field_key="budget")
    assert selectors.object_meta(admin_actor, "sales.lead").custom_field("budget") is None
    services.create_object(actor=admin_actor, key="shop", label="Shop")
    assert selectors.object_meta(admin_actor, "custom.shop").fields == ()


def test_the_token_changes_again_after_commit(admin_actor, django_capture_on_commit_callbacks):
    """Another process may read the old rows while the change is uncommitted and memoise them under the token set
    at once; the token set after commit makes that memo unreachable."""
    before = meta_cache.generation(admin_actor.org_id)
    with django_capture_on_commit_callbacks(execute=True):
        meta_cache.changed(admin_actor.org_id)
        during = meta_cache.generation(admin_actor.org_id)
        meta_cache.put(admin_actor.org_id, "sales.lead", during, "what another process read before the commit")
    after = meta_cache.generation(admin_actor.org_id)
    assert len({before, during, after}) == 3
    assert meta_cache.get(admin_actor.org_id, "sales.lead", after) is None


def test_a_lost_token_makes_every_memo_miss(admin_actor):
    first = selectors.object_meta(admin_actor, "sales.lead")
    cache.delete(f"siyu:platform:meta-generation:{admin_actor.org_id}")  # evicted or culled
    with CaptureQueriesContext(connection) as queries:
        again = selectors.object_meta(admin_actor, "sales.lead")
    assert again is not first and again.definition.pk == first.definition.pk
    assert any("platform_fielddefinition" in q["sql"] for q in queries.captured_queries)


def test_organisations_do_not_share_metadata(make_org, admin_actor):
    from siyu.iam.selectors import actor_for_membership

    other = actor_for_membership(make_org("Other"))
    services.create_field(actor=admin_actor, object_key="sales.lead", key="budget", label="Budget", type="integer")
    assert selectors.object_meta(admin_actor, "sales.lead").custom_field("budget") is not None
    assert selectors.object_meta(other, "sales.lead").custom_field("budget") is None


def test_the_memo_is_bounded(admin_actor):
    for i in range(meta_cache.MAX_ENTRIES + 10):
        meta_cache.put(admin_actor.org_id, f"custom.k{i}", "t", i)
    assert meta_cache.get(admin_actor.org_id, "custom.k0", "t") is None
    assert meta_cache.get(admin_actor.org_id, f"custom.k{meta_cache.MAX_ENTRIES + 9}", "t") == meta_cache.MAX_ENTRIES + 9


def test_a_broken_cache_reads_the_database_and_fails_nothing(admin_actor, monkeypatch, caplog):
    """Redis down must not take the API down: every call reads the definitions, changes still commit."""
    first = selectors.object_meta(admin_actor, "sales.lead")

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    for name in ("get", "add", "set"):
        monkeypatch.setattr(meta_cache.cache, name, broken)
    again = selectors.object_meta(admin_actor, "sales.lead")
    assert again is not first and again.definition.pk == first.definition.pk
    services.create_field(actor=admin_actor, object_key="sales.lead", key="budget", label="Budget", type="integer")
    assert selectors.object_meta(admin_actor, "sales.lead").custom_field("budget") is not None
    assert "generation token" in caplog.text


def test_tokens_expire(admin_actor, monkeypatch):
    """A change made while the cache was down could not move the token: expiry bounds how long a memo lasts."""
    timeouts = []
    real_set, real_add = meta_cache.cache.set, meta_cache.cache.add
    monkeypatch.setattr(meta_cache.cache, "set", lambda k, v, timeout=None: timeouts.append(timeout) or
                        real_set(k, v, timeout=timeout))
    monkeypatch.setattr(meta_cache.cache, "add", lambda k, v, timeout=None: timeouts.append(timeout) or
                        real_add(k, v, timeout=timeout))
    meta_cache.changed(admin_actor.org_id)
    meta_cache.cache.delete(f"siyu:platform:meta-generation:{admin_actor.org_id}")
    meta_cache.generation(admin_actor.org_id)
    assert timeouts and all(t == meta_cache.TOKEN_SECONDS for t in timeouts)
