"""Named operations of segments and personas (imported from ``cdp/permissions.py`` so they are declared at start)."""

from siyu.kernel.permissions import declare

declare(
    ("cdp.segment.read", "View segments, their members, snapshots and personas"),
    ("cdp.segment.manage", "Create, edit and delete segments; take snapshots"),
    ("cdp.persona.manage", "Create, edit and delete personas"),
)
