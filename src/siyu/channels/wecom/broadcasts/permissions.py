"""Named operations of WeCom broadcasts (imported from ``WeComBroadcastsConfig.ready``)."""

from siyu.kernel.permissions import declare

declare(
    ("channels.broadcast.read", "View WeCom broadcasts, their recipients and results per employee"),
    ("channels.broadcast.manage", "Create and cancel WeCom broadcasts and set the frequency cap"),
)
