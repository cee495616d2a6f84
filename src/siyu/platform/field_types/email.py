"""Email addresses, normalised (NFKC, trimmed, lower-cased), encrypted with a blind index, masked on display."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .personal import PersonalType


class EmailType(PersonalType):
    key = "email"
    label = _("Email")
    mask_kind = "email"
    message = "must be an email address"
