"""The CDP's named operations (imported from ``CdpConfig.ready``)."""

from siyu.kernel.permissions import declare

declare(
    ("cdp.profile.read", "View customer profiles"),
    ("cdp.profile.create", "Create customer profiles"),
    ("cdp.profile.update", "Edit customer profiles, their identities, tags and lifecycle stage"),
    ("cdp.profile.delete", "Delete customer profiles"),
    ("cdp.profile.merge", "Decide merge reviews and undo merges"),
    ("cdp.profile.unmask", "Reveal customers' personal identifiers (audited)"),
    ("cdp.profile.export", "Export the customers one may see as CSV/XLSX (audited)"),
    ("cdp.source.manage", "Create, disable and rotate event sources and their write keys"),
    ("cdp.tag.manage", "Create tags and tag groups"),
    ("cdp.consent.manage", "Record consent grants and withdrawals"),
    ("cdp.lifecycle.manage", "Configure the organisation's lifecycle stages"),
)

from .segments import permissions as _segments  # noqa: E402, F401  (segments and personas)
