from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CdpConfig(AppConfig):
    name = "siyu.cdp"
    label = "cdp"
    verbose_name = "Customer data platform"

    def ready(self) -> None:
        from siyu.kernel import encrypted
        from siyu.platform import objects
        from siyu.platform.objects import StandardField

        from . import permissions  # noqa: F401  (declares the CDP's operations)
        from .models import Identity, Profile

        # Identity values are envelopes under "cdp.identity.<type>" (their blind index also binds the namespace,
        # so it is not registered as the column's index): `siyu keys rotate` must find them.
        encrypted.register(Identity, field="value", context=_identity_context, context_fields=("type",),
                           object_key="cdp.profile")
        # phone / email custom fields of profiles hold envelopes too.
        encrypted.register_json(Profile, column="custom", object_key="cdp.profile")
        # The platform renders lists, filters and forms of profiles from this description plus custom fields.
        objects.register_standard_object(
            key="cdp.profile", label=_("Customer"), model=Profile, custom_column="custom",
            standard_fields=[
                StandardField("id", _("ID"), "integer"),
                StandardField("name", _("Name"), "text"),
                StandardField("kind", _("Kind"), "single_select", options={"choices": [
                    {"value": "person", "label": _("Person")}, {"value": "company", "label": _("Company")}]}),
                StandardField("gender", _("Gender"), "single_select", options={"choices": [
                    {"value": "male", "label": _("Male")}, {"value": "female", "label": _("Female")},
                    {"value": "unknown", "label": _("Unknown")}]}),
                StandardField("birthday", _("Birthday"), "date"),
                StandardField("province", _("Province"), "text"),
                StandardField("city", _("City"), "text"),
                StandardField("source", _("Source"), "text"),
                StandardField("channel", _("Channel"), "text"),
                StandardField("lifecycle_stage", _("Lifecycle stage"), "text"),
                StandardField("owner_id", _("Owner"), "integer"),
                StandardField("department_id", _("Department"), "integer"),
                StandardField("account_id", _("Account"), "integer"),
                StandardField("identity_count", _("Identities"), "integer"),
                StandardField("first_seen_at", _("First seen"), "datetime"),
                StandardField("last_seen_at", _("Last seen"), "datetime"),
                StandardField("created_at", _("Created"), "datetime"),
            ],
        )


def _identity_context(identity) -> str:
    return f"cdp.identity.{identity.type}"
