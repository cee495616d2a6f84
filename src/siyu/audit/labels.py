"""Display names of audit actions (the stored values stay English identifiers)."""

from django.utils.translation import gettext_lazy as _

ACTIONS = {
    "create": _("Created"),
    "update": _("Updated"),
    "delete": _("Deleted"),
    "login": _("Signed in"),
    "login_failed": _("Failed sign-in"),
    "logout": _("Signed out"),
    "denied": _("Access denied"),
    "export": _("Exported"),
    "unmask": _("Unmasked personal data"),
    "purge": _("Purged old entries"),
}

PROBLEMS = {
    "edited": _("edited"),
    "deleted": _("deleted"),
    "reordered": _("reordered"),
}


def action_label(action: str):
    return ACTIONS.get(action, action)
