"""A member's mobile number at rest: normalised to E.164, AES-GCM encrypted, blind-indexed, shown masked."""

from __future__ import annotations

import phonenumbers

from siyu.kernel import crypto
from siyu.kernel.actor import Actor
from siyu.kernel.errors import ValidationFailed

from .models import Membership

MOBILE_CONTEXT = "iam.membership.mobile"
DEFAULT_REGION = "CN"  # numbers typed without a country code are Chinese mobiles


def normalize_mobile(value: str, *, field: str = "mobile") -> str:
    """E.164 (``+8613812345678``) or a field error; the blind index only matches normalised values."""
    try:
        number = phonenumbers.parse(value.strip(), DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed("invalid mobile number", fields={field: ["not a phone number"]}) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed("invalid mobile number", fields={field: ["not a valid phone number"]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mobile_index(e164: str) -> str:
    return crypto.blind_index(e164, context=MOBILE_CONTEXT)


def sealed_mobile(value: str) -> tuple[str, str]:
    """``(ciphertext, blind index)`` for a raw input; empty input clears both."""
    if not value.strip():
        return "", ""
    e164 = normalize_mobile(value)
    return crypto.encrypt(e164, context=MOBILE_CONTEXT), mobile_index(e164)


def mobile_plain(membership: Membership) -> str:
    """The decrypted number. Internal: for audit diffs (which mask it) and the unmask hook below only."""
    return crypto.decrypt(membership.mobile, context=MOBILE_CONTEXT) if membership.mobile else ""


def mobile_for_display(actor: Actor, membership: Membership) -> str:
    """What an actor is shown: always masked (138****5678) for now.

    Hook for unmasking: the compliance work adds an ``iam.user.unmask`` style permission here, returns
    :func:`mobile_plain` when the actor holds it, and records an ``unmask`` audit entry. Every console page and
    API response already goes through this function, so that is the only place to change.
    """
    return crypto.mask(mobile_plain(membership), "phone")
