from siyu.kernel.permissions import declare

declare(
    ("platform.object.read", "View custom objects"),
    ("platform.object.manage", "Create custom objects"),
    ("platform.field.manage", "Manage custom fields"),
    ("platform.record.read", "View custom object records"),
    ("platform.record.create", "Create custom object records"),
    ("platform.record.update", "Edit custom object records"),
    ("platform.record.delete", "Delete custom object records"),
    ("platform.record.unmask", "See personal values of custom object records unmasked"),
)

declare(
    ("platform.approval.read", "View approval requests and the approval inbox"),
    ("platform.approval.submit", "Submit records for approval and recall them"),
    ("platform.approval.decide", "Approve or reject as an approver, delegate while away"),
    ("platform.approval.manage", "Define approval processes; see every approval request"),
)
