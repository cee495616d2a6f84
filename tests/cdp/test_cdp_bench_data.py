from django.core.management import call_command

from siyu.cdp.identifiers import normalise
from siyu.cdp.models import Event, EventDailyRollup, EventRollup, Identity, Profile
from siyu.cdp.resolution import resolve_profile
from siyu.kernel.actor import Actor


def test_bench_data_is_reproducible_and_consistent(org, capsys):
    call_command("bench_data", "--size", "XS", "--org", org.slug, "--profiles", "300", "--events", "2000")
    assert Profile.objects.filter(org=org).count() == 300
    assert Event.objects.filter(org_id=org.pk).count() == 2000
    # Rollups agree with raw events.
    assert sum(EventRollup.objects.filter(org_id=org.pk).values_list("count", flat=True)) == 2000
    assert sum(EventDailyRollup.objects.filter(org_id=org.pk).values_list("count", flat=True)) == 2000
    # Generated identities are real: a generated phone resolves to its profile through the blind index.
    ident = Identity.objects.filter(org=org, type="wecom_external_userid").first()
    from siyu.kernel import crypto

    value = crypto.decrypt(ident.value, context="cdp.identity.wecom_external_userid")
    found = resolve_profile(actor=Actor.system(org.pk), identifiers=[
        normalise("wecom_external_userid", value, ident.namespace)], create=False)
    assert found.profile.pk == ident.profile_id
    names = list(Profile.objects.filter(org=org).order_by("id").values_list("name", flat=True)[:5])
    assert all(names)
    p = Profile.objects.filter(org=org).order_by("id").first()
    assert p.identity_count == Identity.objects.filter(profile=p).count()
    # A new profile after the bulk load gets an id beyond the generated ones.
    new = resolve_profile(actor=Actor.system(org.pk), identifiers=[normalise("email", "fresh@x.cn")]).profile
    assert new.pk > Profile.objects.exclude(pk=new.pk).order_by("-pk").first().pk
