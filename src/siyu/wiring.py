"""Composition root at start-up: wires contexts that may not import each other (rules of direction).

platform may import only kernel, and iam may not import platform, so neither can say "iam's Membership is the
standard object ``iam.user`` and its ``custom`` column holds custom field values". This app, listed last in
``INSTALLED_APPS``, says it once everything else is ready.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WiringConfig(AppConfig):
    name = "siyu.wiring"
    label = "siyu_wiring"
    verbose_name = "Composition root"

    def ready(self) -> None:
        from siyu.iam.models import Membership
        from siyu.kernel import encrypted
        from siyu.kernel.actor import Actor
        from siyu.platform import objects, resolvers
        from siyu.platform.objects import StandardField

        objects.register_standard_object(
            key="iam.user", label=_("User"), model=Membership, custom_column="custom",
            standard_fields=[
                StandardField("id", _("ID"), "integer"),
                StandardField("name", _("Name"), "text", lookup="user__name"),
                StandardField("email", _("Email"), "text", lookup="user__email"),
                StandardField("title", _("Title"), "text"),
                StandardField("department_id", _("Department"), "integer"),
                StandardField("mobile", _("Mobile"), "phone", index_lookup="mobile_index", sortable=False,
                              crypto_context="iam.membership.mobile"),
                StandardField("is_active", _("Active"), "boolean"),
                StandardField("created_at", _("Created"), "datetime"),
            ],
        )

        def active_members(org_id: int, ids: list[int]) -> set[int]:
            members = Membership.objects.in_org(Actor.system(org_id, label="platform.user-resolver"))
            return set(members.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))

        resolvers.register_user_resolver(active_members)
        # phone / email custom fields on members hold envelopes: `siyu keys rotate` must find them.
        encrypted.register_json(Membership, column="custom")
        # The approval engine (platform) learns iam's people resolvers, WeCom notices and sales' subjects.
        from siyu.sales.services.commerce.approval_wiring import register as register_sales_approvals

        register_sales_approvals()
