from siyu.kernel.permissions import declare

declare(
    ("audit.entry.read", "View the audit log"),
    ("audit.entry.export", "Export the audit log"),
    ("audit.chain.verify", "Verify the audit log's hash chain"),
)
