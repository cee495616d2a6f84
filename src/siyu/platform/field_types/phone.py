"""Phone numbers, normalised to E.164 with ``phonenumbers`` (default region CN, every usual Chinese writing:
spaces, dashes, full-width digits, 0086), encrypted with a blind index, masked on display (138****5678)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .personal import PersonalType


class PhoneType(PersonalType):
    key = "phone"
    label = _("Phone")
    mask_kind = "phone"
    message = "must be a valid phone number"
