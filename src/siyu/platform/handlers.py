"""Platform's scheduled actions, imported by ``kernel.events.discover`` in every worker."""

from siyu.platform.approvals import services as _approvals  # noqa: F401  (registers platform.approval.remind)
