from siyu.kernel.permissions import declare

declare(
    ("iam.user.read", "View users"),
    ("iam.user.create", "Invite users"),
    ("iam.user.update", "Edit users"),
    ("iam.user.disable", "Disable users"),
    ("iam.department.read", "View departments"),
    ("iam.department.manage", "Manage departments"),
    ("iam.role.read", "View roles"),
    ("iam.role.manage", "Manage roles, data scopes and field security"),
    ("iam.apikey.manage", "Manage API keys"),
    ("iam.organization.manage", "Manage organisation settings"),
)
