"""Normalising and protecting identifiers before they are stored or looked up.

Every identifier goes through :func:`normalise` (so "138 0013 8000", "+86-138-0013-8000" and "008613800138000" are one
phone) and is stored as an encrypted envelope plus a blind index bound to its type.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from siyu.kernel import crypto
from siyu.kernel.encrypted import normalise_email, normalise_phone
from siyu.kernel.errors import ValidationFailed

from .models import IdentityType

# Types whose value is only meaningful within a namespace (WeCom corp id, WeChat app id).
NAMESPACED = {IdentityType.WECOM_EXTERNAL_USERID, IdentityType.OPENID}
MASK_KIND = {IdentityType.PHONE: "phone", IdentityType.EMAIL: "email"}
MAX_LEN = 200


@dataclass(frozen=True, eq=False)
class Identifier:
    """Frozen and hashable; equal when type, value and namespace are equal.

    Identifiers are dictionary keys and set members all through resolution and import (an import hashes each
    one about fifteen times), so the key tuple and its hash are computed once, at construction, instead of the
    dataclass's generated ``__hash__``/``__eq__`` rebuilding the tuple on every call."""

    type: str
    value: str  # normalised
    namespace: str = ""

    def __post_init__(self) -> None:
        key = (self.type, self.value, self.namespace)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._key == other._key
        return NotImplemented

    def __reduce__(self):
        # Rebuilt through the constructor: a pickled hash would be wrong in another process (string hashes
        # are salted per process).
        return (self.__class__, self._key)

    @property
    def index(self) -> str:
        return crypto.blind_index(f"{self.namespace}\x00{self.value}", context=f"cdp.identity.{self.type}")

    def encrypted(self) -> str:
        return crypto.encrypt(self.value, context=f"cdp.identity.{self.type}")

    def masked(self) -> str:
        return crypto.mask(self.value, MASK_KIND.get(self.type, "text"))


def normalise(type_: str, raw: object, namespace: str = "") -> Identifier:
    """Raise ``ValidationFailed`` (field = the type) when the value cannot be an identifier of that type."""
    try:
        kind = IdentityType(type_)
    except ValueError as exc:
        raise ValidationFailed("unknown identity type", fields={"type": [f"unknown identity type {type_!r}"]}) from exc
    if raw is None or not str(raw).strip():
        raise ValidationFailed("empty identifier", fields={kind.value: ["must not be empty"]})
    try:
        if kind == IdentityType.PHONE:
            value = normalise_phone(str(raw))
        elif kind == IdentityType.EMAIL:
            value = normalise_email(str(raw))
        else:
            value = unicodedata.normalize("NFKC", str(raw)).strip()
            if len(value) > MAX_LEN or any(unicodedata.category(c).startswith("C") for c in value):
                raise ValueError(f"at most {MAX_LEN} printable characters")
    except ValueError as exc:
        raise ValidationFailed("invalid identifier", fields={kind.value: [str(exc)]}) from exc
    if kind in NAMESPACED and not namespace:
        raise ValidationFailed("namespace required", fields={kind.value: ["needs its corp or app id as namespace"]})
    return Identifier(kind.value, value, namespace if kind in NAMESPACED else "")
