"""Identifiers at import speed: the same normalised values, envelopes and blind indexes as
``cdp.identifiers`` / ``kernel.crypto``, without their per-call overheads.

* ``phonenumbers.parse`` costs about 80 µs; a million rows of phone numbers would take a minute and a half.
  The common Chinese mobile forms (``13800138000``, ``138 0013 8000``, ``+86-138-0013-8000``, ``0086…``,
  ``86…``, full-width digits) are recognised with a regular expression and checked against the mobile
  pattern of phonenumbers' own CN metadata: a national number matching it is a valid number (its type is not
  UNKNOWN), and its E.164 form is ``+86`` + the 11 digits, exactly what :func:`cdp.identifiers.normalise`
  returns. Anything else (landlines, other countries, odd forms) goes through :func:`normalise` itself.
* Django's ``validate_email`` costs about 30 µs. A plain ASCII address (letters, digits, ``. _ % + -`` in the
  local part, ordinary host labels and a letters-only top-level domain) is a strict subset of what it accepts,
  so such an address is only stripped and lower-cased, as :func:`normalise` does; anything else (quoted local
  parts, IDN domains, address literals, full-width characters) goes through :func:`normalise` itself.
* ``kernel.crypto.encrypt`` / ``blind_index`` read the key ring on every call (a ``stat`` of the key file,
  about 30 µs). A :class:`Sealer` reads it once per chunk and then uses the same primitives and formats;
  ``tests/cdp/importing/test_identities.py`` proves its output is what ``kernel.crypto`` reads and computes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import unicodedata

import phonenumbers
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from siyu.kernel import crypto

from ..identifiers import Identifier, normalise
from ..models import IdentityType

_SEPARATORS = re.compile(r"[\s\-.()（）]+")
_CN_MOBILE_FORM = re.compile(r"(?:\+86|0086|86)?(1\d{10})")
_CN_MOBILE = re.compile(phonenumbers.PhoneMetadata.metadata_for_region("CN").mobile.national_number_pattern)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN_EMAIL = re.compile(rf"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,63}}")
MAX_EMAIL = 320  # Django's EmailValidator refuses longer addresses


def fast_phone(raw: str) -> str | None:
    """The E.164 form of a Chinese mobile number in a common form, or None (then ask :func:`normalise`)."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    m = _CN_MOBILE_FORM.fullmatch(text)
    if m is None or not _CN_MOBILE.fullmatch(m.group(1)):
        return None
    return "+86" + m.group(1)


def fast_email(raw: str) -> str | None:
    """The normalised form of a plain ASCII e-mail address, or None (then ask :func:`normalise`)."""
    if not raw.isascii():
        return None  # NFKC could change it
    value = raw.strip().lower()
    if len(value) > MAX_EMAIL or _PLAIN_EMAIL.fullmatch(value) is None:
        return None
    return value


_PHONE, _EMAIL = IdentityType.PHONE.value, IdentityType.EMAIL.value


def normalise_fast(type_: str, raw: str, namespace: str = "") -> Identifier:
    """:func:`cdp.identifiers.normalise` with fast paths for mobile numbers and plain e-mail addresses (same
    result, same errors)."""
    if type_ == _PHONE:
        value = fast_phone(raw)
        if value is not None:
            return Identifier(_PHONE, value, "")
    elif type_ == _EMAIL:
        value = fast_email(raw)
        if value is not None:
            return Identifier(_EMAIL, value, "")
    return normalise(type_, raw, namespace)


class Sealer:
    """Envelopes and blind indexes of many identifiers under one read of the key ring (one chunk's worth:
    a key rotation between chunks is picked up by the next chunk's sealer)."""

    def __init__(self) -> None:
        ring = crypto.keyring()
        self._active = ring.active
        self._aead = AESGCM(ring.keys[ring.active])
        self._index_key = ring.index_key
        # HMAC's keyed inner and outer states, set up once: copying them is cheaper than hmac.new per value
        self._hmac = hmac.new(ring.index_key, digestmod=hashlib.sha256)
        self._indexes: dict[Identifier, str] = {}

    def index(self, ident: Identifier) -> str:
        """Equal to ``ident.index`` (``crypto.blind_index`` of namespace NUL value in the type's context)."""
        found = self._indexes.get(ident)
        if found is None:
            h = self._hmac.copy()
            h.update(f"cdp.identity.{ident.type}\x00{ident.namespace}\x00{ident.value}".encode())
            found = self._indexes[ident] = h.hexdigest()
        return found

    def encrypt(self, ident: Identifier) -> str:
        """An envelope ``crypto.decrypt(…, context="cdp.identity.<type>")`` opens."""
        nonce = os.urandom(crypto.NONCE_BYTES)
        ct = self._aead.encrypt(nonce, ident.value.encode(), f"cdp.identity.{ident.type}".encode())
        return f"{crypto.PREFIX}:{self._active}:{base64.urlsafe_b64encode(nonce + ct).decode().rstrip('=')}"
