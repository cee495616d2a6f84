"""Named operations of the conversation archive (imported from ``WeComArchiveConfig.ready``)."""

from siyu.kernel.permissions import declare

declare(
    ("channels.archive.read", "Read archived WeCom conversations (each reading is audited) and archive alerts"),
    ("channels.archive.manage", "Configure the conversation archive: secret, retention, sensitive words, reply timeout"),
)
