"""Base of personal-data types (phone, email): stored encrypted with a blind index, shown masked.

Stored as ``{"ct": "<kernel.crypto envelope>", "bi": "<HMAC blind index of the normalised value>"}``, both under
the field's context ``platform:<object_key>:<field_key>`` (``kernel.encrypted.json_context``), so ``siyu keys
rotate`` re-encrypts them and equal values in two fields do not link rows. Normalisation is the kernel's, the
same as iam's and the CDP's. Equality filters hash the normalised filter value and compare ``bi`` (the indexed
sub-path); nothing else can be filtered or sorted without decrypting.
"""

from __future__ import annotations

from typing import Any

from siyu.kernel import crypto, encrypted

from .base import FieldError, FieldSpec, FieldType


class PersonalType(FieldType):
    operators = ("eq", "in", "is_empty")
    sortable = False
    index_path = ("bi",)
    mask_kind: str = "text"
    message = "is not valid"

    def normalise(self, value: Any) -> str:
        if not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > 254:
            raise FieldError(self.message)
        try:
            return encrypted.normalise(self.mask_kind, value)
        except ValueError as exc:
            raise FieldError(self.message) from exc

    def coerce(self, value: Any, spec: FieldSpec) -> dict[str, str]:
        sealed = encrypted.seal(self.mask_kind, self.normalise(value), context=spec.crypto_context)
        return {"ct": sealed.envelope, "bi": sealed.index}

    def filter_value(self, op: str, raw: Any, spec: FieldSpec) -> Any:
        if op == "is_empty":
            return super().filter_value(op, raw, spec)
        if op == "in":
            items = raw if isinstance(raw, list) else [p for p in str(raw).split(",") if p.strip()]
            if not items:
                raise FieldError("give at least one value")
        else:
            items = [raw]
        hashes = [crypto.blind_index(self.normalise(i), context=spec.crypto_context) for i in items]
        return hashes if op == "in" else hashes[0]

    def text_form(self, stored: Any) -> str:
        # Filter values are already blind indexes (see filter_value); stored values carry theirs.
        return stored["bi"] if isinstance(stored, dict) else stored

    def plaintext(self, stored: Any, spec: FieldSpec) -> str:
        try:
            return crypto.decrypt(stored["ct"], context=spec.crypto_context)
        except (crypto.CryptoError, KeyError, TypeError):
            return ""

    def to_api(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> Any:
        if not stored:
            return None
        plain = self.plaintext(stored, spec)
        return plain if unmask else crypto.mask(plain, self.mask_kind)

    def audit_value(self, stored: Any, spec: FieldSpec) -> Any:
        return self.plaintext(stored, spec) if stored else None
