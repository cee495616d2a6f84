"""Indexed custom fields: on PostgreSQL an expression index is created CONCURRENTLY after commit, used by the
planner for an equality filter, and dropped when unmarked or archived; on SQLite nothing is done."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from siyu.iam import services as iam
from siyu.iam.selectors import actor_for_membership
from siyu.kernel.actor import Actor
from siyu.platform import indexes, selectors, services
from siyu.platform.filtering import Filter, apply_filters
from siyu.platform.models import CustomRecord, FieldDefinition


def index_state(name: str):
    with connection.cursor() as c:
        c.execute("SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                  "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s", [name])
        return c.fetchone()


def _new_admin(name: str):
    return actor_for_membership(iam.create_organization(name=name, admin_email=f"{name.lower()}@x.example",
                                                        admin_password="correct horse battery"))


def test_sql_is_built_from_validated_keys_and_ids(admin_actor):
    services.create_object(actor=admin_actor, key="shop", label="Shop")
    fd = services.create_field(actor=admin_actor, object_key="custom.shop", key="code", label="Code", type="text")
    obj = fd.object
    sql = indexes.create_sql(fd, obj)
    quoted = connection.ops.quote_name
    assert sql == (f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quoted(f'siyu_cf_{fd.pk}')} ON "
                   f"{quoted('platform_customrecord')} (({quoted('data')} ->> 'code'), id) WHERE object_id = {obj.pk}")
    phone = services.create_field(actor=admin_actor, object_key="iam.user", key="alt_phone", label="P", type="phone")
    assert indexes.create_sql(phone, phone.object) == (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quoted(f'siyu_cf_{phone.pk}')} ON {quoted('iam_membership')} "
        f"(({quoted('custom')} -> 'alt_phone' ->> 'bi'), id) WHERE org_id = {admin_actor.org_id}")


def test_sqlite_skips_index_ddl(admin_actor, django_capture_on_commit_callbacks):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite path")
    services.create_object(actor=admin_actor, key="shop", label="Shop")
    with django_capture_on_commit_callbacks() as callbacks:
        services.create_field(actor=admin_actor, object_key="custom.shop", key="code", label="Code", type="text",
                              indexed=True)
    assert [c for c in callbacks if c.__module__ == indexes.__name__] == []  # no DDL scheduled after commit
    assert indexes.sync_indexes() == {"created": 0, "dropped": 0}


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_expression_index_lifecycle_and_plan():
    if connection.vendor != "postgresql":
        pytest.skip("expression indexes are created on PostgreSQL only")
    with transaction.atomic():
        admin = _new_admin("Big")
        services.create_object(actor=admin, key="shop", label="Shop")
        services.create_object(actor=admin, key="other", label="Other")
        fd = services.create_field(actor=admin, object_key="custom.shop", key="code", label="Code", type="text",
                                   indexed=True)
        services.create_field(actor=admin, object_key="custom.other", key="code", label="Code", type="text")
        phone = services.create_field(actor=admin, object_key="custom.shop", key="tel", label="Tel", type="phone",
                                      indexed=True)
        # in the transaction nothing exists yet: CONCURRENTLY waits for the commit
        assert index_state(f"siyu_cf_{fd.pk}") is None
    valid, definition = index_state(f"siyu_cf_{fd.pk}")
    assert valid is True
    assert "(((data ->> 'code'::text)), id)" in definition and f"WHERE (object_id = {fd.object_id})" in definition
    assert index_state(f"siyu_cf_{phone.pk}")[0] is True

    shop = selectors.object_meta(admin, "custom.shop")
    other = selectors.object_meta(admin, "custom.other")
    system = Actor.system(admin.org_id)
    CustomRecord.objects.bulk_create(
        [CustomRecord(org_id=admin.org_id, object=shop.definition, data={"code": f"c{i}"}) for i in range(20000)]
        + [CustomRecord(org_id=admin.org_id, object=other.definition, data={"code": "not a number"})
           for _ in range(2000)],
        batch_size=5000,
    )
    with connection.cursor() as c:
        c.execute("ANALYZE platform_customrecord")
    qs, _ = apply_filters(selectors.records_visible_to(system, shop), actor=system, meta=shop,
                          filters=[Filter("code", "eq", "c12345")])
    plan = qs.explain()
    assert f"siyu_cf_{fd.pk}" in plan, plan
    assert [r.data["code"] for r in qs] == ["c12345"]

    with transaction.atomic():
        services.update_field(actor=admin, object_key="custom.shop", field_key="code", indexed=False)
        services.archive_field(actor=admin, object_key="custom.shop", field_key="tel")
    assert index_state(f"siyu_cf_{fd.pk}") is None
    assert index_state(f"siyu_cf_{phone.pk}") is None

    # a definition marked indexed whose index went missing is repaired by sync_indexes
    FieldDefinition.objects.unscoped_all_orgs().filter(pk=fd.pk).update(indexed=True)
    assert indexes.sync_indexes() == {"created": 1, "dropped": 0}
    assert index_state(f"siyu_cf_{fd.pk}")[0] is True


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_index_on_a_standard_object_is_partial_per_organisation():
    if connection.vendor != "postgresql":
        pytest.skip("expression indexes are created on PostgreSQL only")
    with transaction.atomic():
        admin = _new_admin("Std")
        fd = services.create_field(actor=admin, object_key="iam.user", key="badge", label="Badge", type="integer",
                                   indexed=True)
    valid, definition = index_state(f"siyu_cf_{fd.pk}")
    assert valid is True
    assert "ON public.iam_membership" in definition and f"WHERE (org_id = {admin.org_id})" in definition
    meta = selectors.object_meta(admin, "iam.user")
    qs, _ = apply_filters(meta.model.objects.visible_to(admin), actor=admin, meta=meta,
                          filters=[Filter("badge", "eq", "7")])
    with transaction.atomic(), connection.cursor() as c:
        c.execute("SET LOCAL enable_seqscan = off")  # a handful of members: make the planner show it can use it
        assert f"siyu_cf_{fd.pk}" in qs.explain()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_equality_filter_pages_in_index_order_and_older_shapes_are_rebuilt():
    """A value many records share, listed newest first: the (value, id) index hands over the page's rows in order
    (no sort, no walk of the primary key). An index of the older value-only shape is rebuilt by ``migrate``."""
    if connection.vendor != "postgresql":
        pytest.skip("expression indexes are created on PostgreSQL only")
    with transaction.atomic():
        admin = _new_admin("Order")
        services.create_object(actor=admin, key="deal", label="Deal")
        fd = services.create_field(actor=admin, object_key="custom.deal", key="tier", label="Tier", type="text",
                                   indexed=True)
    meta = selectors.object_meta(admin, "custom.deal")
    CustomRecord.objects.bulk_create(
        [CustomRecord(org_id=admin.org_id, object=meta.definition, data={"tier": "gold" if i % 20 == 0 else f"t{i}"})
         for i in range(30000)], batch_size=5000)
    with connection.cursor() as c:
        c.execute("ANALYZE platform_customrecord")
    system = Actor.system(admin.org_id)

    def page_plan() -> str:
        qs, _ = apply_filters(selectors.records_visible_to(system, meta), actor=system, meta=meta,
                              filters=[Filter("tier", "eq", "gold")])
        page = qs.order_by("-id")[:51]
        assert len(page) == 51 and all(r.data["tier"] == "gold" for r in page)
        assert [r.pk for r in page] == sorted((r.pk for r in page), reverse=True)
        return page.explain()

    plan = page_plan()
    assert f"Index Scan Backward using siyu_cf_{fd.pk}" in plan and "Sort" not in plan, plan

    with connection.cursor() as c:  # what an install made before the id column joined the index
        c.execute(f'DROP INDEX "siyu_cf_{fd.pk}"')
        c.execute(f"""CREATE INDEX "siyu_cf_{fd.pk}" ON platform_customrecord ((data ->> 'tier'))
                      WHERE object_id = {meta.definition.pk}""")
    assert indexes.is_valid(fd) is False
    call_command("migrate", verbosity=0)
    valid, definition = index_state(f"siyu_cf_{fd.pk}")
    assert valid is True and definition.endswith(f"(((data ->> 'tier'::text)), id) WHERE (object_id = "
                                                 f"{meta.definition.pk})"), definition
    assert f"siyu_cf_{fd.pk}" in page_plan()
