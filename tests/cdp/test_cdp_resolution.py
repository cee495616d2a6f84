import threading

import pytest
from django.db import connection

from siyu.cdp.identifiers import normalise
from siyu.cdp.merging import unmerge
from siyu.cdp.models import Event, EventRollup, Identity, MergeLog, MergeReview, Profile, ProfileStatus
from siyu.cdp.resolution import resolve_profile
from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.errors import ValidationFailed


@pytest.mark.parametrize("raw", [
    "13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "+8613812345678", "008613812345678",
    "8613812345678", "(+86) 138-1234-5678", "１３８１２３４５６７８", "+86-138-1234-5678",
])
def test_every_chinese_mobile_format_normalises_to_one_e164(raw):
    assert normalise("phone", raw).value == "+8613812345678"


@pytest.mark.parametrize("raw", ["12345", "1381234567", "abc", "+86 238 1234 5678", ""])
def test_bad_phone_numbers_are_rejected_with_a_field_reason(raw):
    with pytest.raises(ValidationFailed) as exc:
        normalise("phone", raw)
    assert "phone" in exc.value.fields


def test_namespaced_types_need_their_namespace():
    with pytest.raises(ValidationFailed):
        normalise("openid", "o123")
    assert normalise("openid", "o123", "wxapp1").namespace == "wxapp1"


def _ev(profile, name, n):
    now = clock.now()
    Event.objects.bulk_create([
        Event(org_id=profile.org_id, profile_id=profile.pk, type="track", name=name, message_id=f"{profile.pk}-{name}-{i}",
              timestamp=now, received_at=now) for i in range(n)
    ])


def test_new_identifiers_create_one_profile_and_a_shared_one_merges_and_unmerge_restores(org, admin_actor):
    phone = normalise("phone", "13812345678")
    email = normalise("email", "Li.Lei@Example.com")
    a = resolve_profile(actor=admin_actor, identifiers=[phone], source="import")
    b = resolve_profile(actor=admin_actor, identifiers=[email], source="web_form")
    assert a.created and b.created and a.profile.pk != b.profile.pk
    _ev(a.profile, "viewed", 2)
    _ev(b.profile, "viewed", 3)
    c = resolve_profile(actor=admin_actor, identifiers=[phone, email], source="identify")
    assert c.profile.pk == a.profile.pk and c.merged_ids == [b.profile.pk]
    merged = Profile.objects.get(pk=b.profile.pk)
    assert merged.status == ProfileStatus.MERGED and merged.merged_into_id == a.profile.pk
    assert set(Identity.objects.filter(profile=a.profile).values_list("type", flat=True)) == {"phone", "email"}
    assert Event.objects.filter(profile_id=a.profile.pk).count() == 5
    assert EventRollup.objects.get(profile_id=a.profile.pk, name="viewed").count == 5
    # The merged profile's identifiers now resolve to the survivor.
    assert resolve_profile(actor=admin_actor, identifiers=[email], create=False).profile.pk == a.profile.pk

    unmerge(actor=admin_actor, log=MergeLog.objects.get(merged=b.profile))
    assert Profile.objects.get(pk=b.profile.pk).status == ProfileStatus.ACTIVE
    assert list(Identity.objects.filter(profile_id=b.profile.pk).values_list("type", flat=True)) == ["email"]
    assert Event.objects.filter(profile_id=b.profile.pk).count() == 3
    assert EventRollup.objects.get(profile_id=a.profile.pk, name="viewed").count == 2
    assert EventRollup.objects.get(profile_id=b.profile.pk, name="viewed").count == 3


def test_blocklisted_phone_never_links_two_people(org, admin_actor):
    fake = normalise("phone", "13800000000")
    first = resolve_profile(actor=admin_actor, identifiers=[fake, normalise("email", "a@x.cn")])
    second = resolve_profile(actor=admin_actor, identifiers=[fake, normalise("email", "b@x.cn")])
    assert first.profile.pk != second.profile.pk
    assert Profile.objects.filter(status="merged").count() == 0
    review = MergeReview.objects.get()
    assert review.reason == "blocklisted" and sorted(review.profiles) == sorted([first.profile.pk, second.profile.pk])


def test_mega_merge_guard_queues_instead_of_merging(org, admin_actor):
    big = resolve_profile(actor=admin_actor, identifiers=[normalise("device_id", f"dev-{i}") for i in range(49)]
                          + [normalise("user_id", "u-big")]).profile
    other = resolve_profile(actor=admin_actor, identifiers=[normalise("email", "c@x.cn"),
                                                             normalise("phone", "13911112222")]).profile
    r = resolve_profile(actor=admin_actor, identifiers=[normalise("user_id", "u-big"), normalise("email", "c@x.cn")])
    assert r.review is not None and r.review.reason == "too_many_identities"
    assert Profile.objects.get(pk=other.pk).status == "active" and Profile.objects.get(pk=big.pk).status == "active"


def test_two_unionids_never_merge_automatically(org, admin_actor):
    resolve_profile(actor=admin_actor, identifiers=[normalise("unionid", "U1"), normalise("email", "d@x.cn")])
    resolve_profile(actor=admin_actor, identifiers=[normalise("unionid", "U2"), normalise("phone", "13922223333")])
    r = resolve_profile(actor=admin_actor, identifiers=[normalise("email", "d@x.cn"), normalise("phone", "13922223333")])
    assert r.review is not None and r.review.reason == "conflicting_unionid"
    assert Profile.objects.filter(status="merged").count() == 0


def test_identities_are_per_organisation(make_org):
    a = Actor.system(make_org("A").org_id)
    b = Actor.system(make_org("B").org_id)
    phone = normalise("phone", "13812345678")
    pa = resolve_profile(actor=a, identifiers=[phone]).profile
    pb = resolve_profile(actor=b, identifiers=[phone]).profile
    assert pa.pk != pb.pk and pa.org_id != pb.org_id


def test_stored_identifier_is_encrypted(org, admin_actor):
    resolve_profile(actor=admin_actor, identifiers=[normalise("phone", "13812345678")])
    row = Identity.objects.get()
    assert "13812345678" not in row.value and row.value.startswith("v1:")


@pytest.mark.django_db(transaction=True)
def test_concurrent_resolution_of_one_new_identifier_gives_one_profile(make_org):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    actor = Actor.system(make_org("Race").org_id)
    phone = normalise("phone", "13812349999")
    results, errors = [], []

    def work():
        from django.db import connection as c
        try:
            results.append(resolve_profile(actor=actor, identifiers=[phone]).profile.pk)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1 and Profile.objects.count() == 1
