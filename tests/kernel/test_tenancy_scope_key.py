from siyu.iam.selectors import actor_for_membership
from siyu.kernel.actor import DataScope
from siyu.platform import services
from siyu.platform.models import ObjectDefinition


def test_a_model_with_a_scope_key_field_is_org_wide_metadata(org, admin_actor, make_member):
    services.create_object(actor=admin_actor, key="custom.project", label="Project")
    member = actor_for_membership(make_member(org, "own@acme.example", permissions=["platform.object.read"],
                                              scope=DataScope.OWN))
    keys = set(ObjectDefinition.objects.visible_to(member).values_list("key", flat=True))
    assert "custom.project" in keys


def test_sees_whole_org_follows_the_scope_of_that_object_only():
    from siyu.kernel.actor import Actor, DataScope

    member = Actor(org_id=1, user_id=2, scopes={"cdp.profile": DataScope.ORGANIZATION},
                   default_scope=DataScope.OWN)
    assert member.sees_whole_org("cdp.profile")
    assert not member.sees_whole_org("sales.lead")  # the default scope (own) applies there
    assert not Actor(org_id=1, user_id=2).sees_whole_org("cdp.profile")  # no scope at all
    assert Actor(org_id=1, user_id=2, is_admin=True).sees_whole_org("sales.lead")
    assert Actor.system(1).sees_whole_org("anything")
