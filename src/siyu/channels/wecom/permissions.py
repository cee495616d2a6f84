"""The WeCom channel's named operations (imported from ``WeComConfig.ready``)."""

from siyu.kernel.permissions import declare

declare(
    ("channels.wecom.read", "View WeCom corps, employees, external contacts, sync runs and the callback log"),
    ("channels.wecom.manage", "Connect WeCom corps, change their settings, run syncs and tag customers in WeCom"),
    ("channels.livecode.read", "View channel live codes, their QR codes and statistics"),
    ("channels.livecode.manage", "Create, edit and delete channel live codes"),
    # No page or API reveals a corp secret; the kernel would declare this for the encrypted columns anyway.
    ("channels.wecom.unmask", "Reveal WeCom corp secrets (no page offers it)"),
)
