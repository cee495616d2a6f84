"""P14 on PostgreSQL: a scoped list reads its page in id order off (org, object, owner|department, id), and web
connections never start parallel workers for page-sized queries (docs/adr/0002)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from siyu.iam import services as iam
from siyu.iam.selectors import actor_for_membership
from siyu.kernel.actor import Actor, DataScope
from siyu.kernel.pagination import paginate
from siyu.platform import selectors, services
from siyu.platform.filtering import Filter, apply_filters
from siyu.platform.models import CustomRecord

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]


def test_connections_do_not_plan_parallel_workers():
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL setting")
    with connection.cursor() as c:
        c.execute("SHOW max_parallel_workers_per_gather")
        assert c.fetchone()[0] == "0"


def test_an_own_scope_list_pages_in_id_order_off_the_owner_index():
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL plan")
    admin = actor_for_membership(iam.create_organization(name="Plan", admin_email="plan@x.example",
                                                         admin_password="correct horse battery"))
    services.create_object(actor=admin, key="deal", label="Deal")
    services.create_field(actor=admin, object_key="custom.deal", key="stage", label="Stage", type="text")
    meta = selectors.object_meta(admin, "custom.deal")
    # 8 owners with 5,000 rows each (the P14 shape: 200 reps x 5,000), spread over the whole id range
    CustomRecord.objects.bulk_create(
        [CustomRecord(org_id=admin.org_id, object=meta.definition, owner_id=1000 + n % 8, department_id=n % 7,
                      data={"stage": "new" if n % 3 == 0 else "won"}) for n in range(40_000)],
        batch_size=10_000,
    )
    with connection.cursor() as c:
        c.execute("ANALYZE platform_customrecord")
    rep = Actor(org_id=admin.org_id, user_id=1007, permissions=frozenset({"platform.record.read"}),
                default_scope=DataScope.OWN)
    qs, order = apply_filters(selectors.records_visible_to(rep, meta), actor=rep, meta=meta,
                              filters=[Filter("stage", "eq", "new")])
    page = paginate(qs, order=order, limit=50)
    assert len(page.items) == 50
    assert {r.owner_id for r in page.items} == {1007}
    assert [r.pk for r in page.items] == sorted(r.pk for r in page.items)
    # On 40K rows a bitmap scan plus a sort of the owner's 5,000 rows is as cheap as anything; at 1M rows the
    # planner takes the ordered index (bench tenancy). What must hold here: an index that serves the page in
    # id order exists, so once bitmap scans are ruled out the page needs no sort.
    with transaction.atomic():
        with connection.cursor() as c:
            c.execute("SET LOCAL enable_bitmapscan = off")
        plan = qs.order_by("pk")[:51].explain()
    assert "platform_rec_org_obj_owner_id" in plan, plan
    assert "Sort" not in plan, plan  # read in id order, not all of the owner's rows sorted for one page
