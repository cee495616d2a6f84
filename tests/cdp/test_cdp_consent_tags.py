import pytest
import time_machine

from siyu.cdp import consent, lifecycle, tags
from siyu.cdp.identifiers import normalise
from siyu.cdp.models import LifecycleTransition, TimelineEntry
from siyu.cdp.resolution import resolve_profile
from siyu.kernel.errors import ValidationFailed


@pytest.fixture
def profile(admin_actor):
    consent.ensure_default_purposes(actor=admin_actor)
    lifecycle.ensure_default_stages(actor=admin_actor)
    return resolve_profile(actor=admin_actor, identifiers=[normalise("phone", "13812345678")]).profile


def test_no_record_means_no_contact_and_the_latest_record_wins(admin_actor, profile):
    ask = lambda: consent.may_contact(actor=admin_actor, profile=profile, purpose="marketing", channel="wecom")  # noqa: E731
    assert (ask().allowed, ask().reason) == (False, "no_record")
    with time_machine.travel("2026-01-01 10:00 +0800"):
        consent.record_consent(actor=admin_actor, profile=profile, purpose="marketing", granted=True, source="web_form")
    assert (ask().allowed, ask().reason) == (True, "granted")
    with time_machine.travel("2026-02-01 10:00 +0800"):
        consent.record_consent(actor=admin_actor, profile=profile, purpose="marketing", channel="wecom",
                               granted=False, source="wecom_keyword")
    assert (ask().allowed, ask().reason) == (False, "withdrawn")
    # The withdrawal was for WeCom only: SMS still follows the all-channel grant.
    assert consent.may_contact(actor=admin_actor, profile=profile, purpose="marketing", channel="sms").allowed
    assert consent.allowed_profile_ids(actor=admin_actor, profile_ids=[profile.pk], purpose="marketing",
                                       channel="wecom") == set()
    assert consent.allowed_profile_ids(actor=admin_actor, profile_ids=[profile.pk], purpose="marketing",
                                       channel="sms") == {profile.pk}
    kinds = list(TimelineEntry.objects.filter(profile=profile).order_by("at").values_list("kind", flat=True))
    assert kinds == ["consent.granted", "consent.withdrawn"]


def test_consent_for_a_channel_outside_the_purpose_is_refused(admin_actor, profile):
    with pytest.raises(ValidationFailed):
        consent.record_consent(actor=admin_actor, profile=profile, purpose="conversation_archive", channel="sms",
                               granted=True, source="console")
    assert not consent.may_contact(actor=admin_actor, profile=profile, purpose="nope").allowed


def test_tags_are_idempotent_with_history_and_reserved_groups(admin_actor, profile):
    vip = tags.get_or_create_tag(actor=admin_actor, group="价值", name="VIP")
    assert [t.pk for t in tags.add_tags(actor=admin_actor, profile=profile, tags=[vip])] == [vip.pk]
    assert tags.add_tags(actor=admin_actor, profile=profile, tags=[vip]) == []
    wecom = tags.get_or_create_tag(actor=admin_actor, group="企微标签", name="意向客户", kind="channel", channel="wecom")
    with pytest.raises(ValidationFailed):
        tags.add_tags(actor=admin_actor, profile=profile, tags=[wecom], source="manual")
    tags.add_tags(actor=admin_actor, profile=profile, tags=[wecom], source="wecom")
    assert tags.remove_tags(actor=admin_actor, profile=profile, tags=[vip]) == 1
    kinds = list(TimelineEntry.objects.filter(profile=profile).order_by("id").values_list("kind", flat=True))
    assert kinds == ["tag.added", "tag.added", "tag.removed"]


def test_lifecycle_keeps_entry_and_exit_times(admin_actor, profile):
    with time_machine.travel("2026-03-01 09:00 +0800"):
        assert lifecycle.set_stage(actor=admin_actor, profile=profile, stage="acquisition")
    with time_machine.travel("2026-03-05 09:00 +0800"):
        assert lifecycle.set_stage(actor=admin_actor, profile=profile, stage="nurturing")
        assert not lifecycle.set_stage(actor=admin_actor, profile=profile, stage="nurturing")
    rows = list(LifecycleTransition.objects.filter(profile=profile).order_by("entered_at"))
    assert [r.stage for r in rows] == ["acquisition", "nurturing"]
    assert rows[0].exited_at == rows[1].entered_at and rows[1].exited_at is None
    with pytest.raises(ValidationFailed):
        lifecycle.set_stage(actor=admin_actor, profile=profile, stage="moon")
