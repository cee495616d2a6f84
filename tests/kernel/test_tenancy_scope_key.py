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
