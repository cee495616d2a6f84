"""The official-account channel's named operations (imported from ``OfficialAccountConfig.ready``)."""

from siyu.kernel.permissions import declare

declare(
    ("channels.official_account.read", "View official accounts, followers, QR codes and the callback log"),
    ("channels.official_account.manage", "Connect official accounts, change their settings and create QR codes"),
    ("channels.official_account.unmask", "Reveal official-account secrets (no page offers it)"),
)
