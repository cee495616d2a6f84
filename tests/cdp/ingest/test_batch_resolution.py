"""The batched resolver used by event processing decides exactly as resolve_profile one by one would, writes
new profiles and links in bulk (one audit entry listing the created profiles), and a batch of new visitors
costs a fixed number of queries, not a few per event."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from ingest_support import track

from siyu.audit.models import AuditLogEntry
from siyu.cdp.identifiers import normalise
from siyu.cdp.ingest import processing
from siyu.cdp.models import Identity, IdentityBlocklist, MergeReview, Profile, ProfileStatus
from siyu.cdp.resolution import BatchResolver, resolve_profile
from siyu.iam import services as iam
from siyu.kernel.actor import Actor

AT = dt.datetime(2025, 3, 1, 10, tzinfo=dt.UTC)

# Groups of identifiers in order: new visitors, a visitor identified, a second device, a known user's new
# anonymous id, two user ids at once (single-valued: the second is not linked), a merge through a shared
# e-mail, a blocklisted phone, and a conflict (two user ids already on two profiles: review queue).
GROUPS = [
    [("anonymous_id", "a1")],
    [("anonymous_id", "a2")],
    [("user_id", "u1"), ("anonymous_id", "a1")],
    [("user_id", "u1"), ("device_id", "d1")],
    [("anonymous_id", "a1"), ("anonymous_id", "a3")],
    [("user_id", "u2"), ("user_id", "u3")],
    [("user_id", "u4"), ("email", "x@example.cn")],
    [("user_id", "u1"), ("email", "x@example.cn")],
    [("anonymous_id", "a4"), ("phone", "13912345678")],
    [("user_id", "u5"), ("phone", "13912345678")],
    [("user_id", "u2"), ("anonymous_id", "a2")],
    [("anonymous_id", "a2"), ("anonymous_id", "a5")],
]


def _ids(group):
    return [normalise(t, v) for t, v in group]


def _shape(org):
    """Which identifiers share a live profile, and the review queue, independent of ids."""
    actor = Actor.system(org.pk)
    by_profile: dict[int, set] = {}
    for type_, index, pid in Identity.objects.in_org(actor).values_list("type", "value_index", "profile_id"):
        by_profile.setdefault(pid, set()).add((type_, index))
    live = Profile.objects.in_org(actor).filter(status=ProfileStatus.ACTIVE)
    counts = {p.pk: p.identity_count for p in live}
    groups = sorted(sorted(v) for k, v in by_profile.items() if k in counts)
    assert all(counts[k] == len(v) for k, v in by_profile.items() if k in counts)
    reviews = sorted(r.reason for r in MergeReview.objects.in_org(actor))
    return groups, reviews, live.count()


def _org(name):
    return iam.create_organization(name=name, admin_email=f"{name}@siyu.local",
                                   admin_password="a-long-password-1").org


def test_batched_resolution_equals_one_by_one(db):
    one, many = _org("one"), _org("many")
    for org in (one, many):
        IdentityBlocklist.objects.create(org_id=org.pk, type="phone",
                                         value_index=normalise("phone", "13912345678").index)
    for group in GROUPS:
        resolve_profile(actor=Actor.system(one.pk), identifiers=_ids(group), source="events")
    resolver = BatchResolver(Actor.system(many.pk), "events")
    resolver.prepare([_ids(g) for g in GROUPS], [True] * len(GROUPS))
    answers = [resolver.resolve(_ids(g), AT).profile_id for g in GROUPS]
    resolver.flush()
    assert _shape(one)[1:] == (["blocklisted", "conflicting_user_id"], 5)  # both slow paths were taken
    assert _shape(many) == _shape(one)
    assert answers[0] == answers[2] == answers[4]  # a1's visitor became u1 and kept its profile
    assert resolver.live(answers[0]) == resolver.live(answers[7])  # merged through the shared e-mail


def test_new_visitors_are_created_in_bulk_with_one_audit_entry(org, post, write_key, django_assert_max_num_queries):
    batch = [track(i, user=None, anonymousId=f"visitor-{i}") for i in range(100)]
    for e in batch:
        del e["userId"]
    assert post("/v1/batch", {"batch": batch}, key=write_key).status_code == 200
    audit_before = AuditLogEntry.objects.count()
    with CaptureQueriesContext(connection) as queries:
        assert processing.process_pending(linger_seconds=0) == 100
    assert len(queries) <= 40, [q["sql"][:120] for q in queries]
    actor = Actor.system(org.pk)
    created = list(Profile.objects.in_org(actor).filter(source="events").order_by("pk"))
    assert len(created) == 100 and all(p.identity_count == 1 for p in created)
    assert {p.first_seen_at for p in created} == {dt.datetime(2025, 3, 1, 10, tzinfo=dt.UTC)}
    (entry,) = AuditLogEntry.objects.filter(pk__gt=0).order_by("-seq")[: AuditLogEntry.objects.count() - audit_before]
    assert (entry.action, entry.object_type) == ("create", "cdp.profile")
    assert entry.meta["count"] == 100 and sorted(entry.meta["ids"]) == [p.pk for p in created]
    assert entry.meta["via"] == "ingest"
