from django.utils.translation import gettext_noop as _

from siyu.kernel.permissions import declare

# Labels are English source strings, marked so that iam's catalogue translates them where they are shown.

declare(
    ("iam.user.read", _("View users")),
    ("iam.user.create", _("Invite users")),
    ("iam.user.update", _("Edit users")),
    ("iam.user.disable", _("Disable users")),
    ("iam.department.read", _("View departments")),
    ("iam.department.manage", _("Manage departments")),
    ("iam.role.read", _("View roles")),
    ("iam.role.manage", _("Manage roles, data scopes and field security")),
    ("iam.apikey.manage", _("Manage API keys")),
    ("iam.organization.manage", _("Manage organisation settings")),
)
