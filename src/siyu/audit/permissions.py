from django.utils.translation import gettext_noop as N_

from siyu.kernel.permissions import declare

# Labels stay English here (N_ only marks them for translation); they are translated where they are shown.
declare(
    ("audit.entry.read", N_("View the audit log")),
    ("audit.entry.export", N_("Export the audit log")),
    ("audit.chain.verify", N_("Verify the audit log's hash chain")),
)
