"""Encrypted columns: the registry, the helpers contexts use to write, find, show and reveal personal values,
and the re-encryption that ``siyu keys rotate`` runs.

A context registers each column that holds :mod:`kernel.crypto` envelopes from its ``AppConfig.ready()``::

    encrypted.register(Membership, field="mobile", index_field="mobile_index",
                       context="iam.membership.mobile", kind="phone")
    encrypted.register_json(Membership, column="custom")   # custom fields of type phone/email

and then writes with ``set_encrypted(m, "mobile", raw)`` (normalised by the kind, envelope + blind index),
searches with ``.filter(mobile_index=lookup(Membership, "mobile", raw))`` (or ``lookup_value("phone", raw,
context=…)``), shows ``display(m, "mobile", actor)`` (masked unless the actor holds ``<object_key>.unmask``) and
reveals with ``reveal_for(actor, m, "mobile", reason)``, which checks scope and permission and audits it.

A blind index uses the same context as its envelope, so equal numbers in two columns do not link the rows for
someone who reads the database (the CDP, iam and platform code all follow this rule).

JSON columns hold envelopes as string values (at any depth, e.g. platform's ``{"ct": envelope, "bi": index}``)
under a top-level field key; their context is ``"platform:<object_key>:<field_key>"`` (:func:`json_context`,
the same string as ``platform.field_types.base.FieldSpec.crypto_context``). Rotation finds them by their ``v1:``
prefix; a text value that merely looks like an envelope is reported as unreadable rather than rewritten.

Every column that holds envelopes must be registered: rotation and ``--retire`` only see registered ones.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.db.models.functions import Cast, Substr

from . import crypto, permissions
from .actor import Actor
from .auditing import record_write
from .errors import NotFound, PermissionDenied, ValidationFailed

# --- kinds: how a value is normalised before it is encrypted and indexed, and how it is masked -------------


def normalise_phone(raw: str, region: str = "CN") -> str:
    """E.164 (``+8613800138000``) from any usual Chinese writing: spaces, dashes, full-width digits, 0086, 86."""
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    digits = "".join(c for c in text if c.isdigit())
    if not text.startswith("+") and len(digits) == 13 and digits.startswith("86"):
        text = "+" + digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    value = unicodedata.normalize("NFKC", str(raw)).strip().lower()
    try:
        validate_email(value)
    except ValidationError as exc:
        raise ValueError("not an e-mail address") from exc
    return value


def normalise_text(raw: str) -> str:
    return unicodedata.normalize("NFC", str(raw)).strip()


@dataclass(frozen=True)
class Kind:
    name: str
    normalise: Callable[[str], str]  # raises ValueError with a reason a user can read
    mask: str  # a crypto.MASKERS key


KINDS: dict[str, Kind] = {
    "phone": Kind("phone", normalise_phone, "phone"),
    "email": Kind("email", normalise_email, "email"),
    "text": Kind("text", normalise_text, "text"),
}


def register_kind(kind: Kind) -> None:
    """Add a kind (e.g. an identity-card number) whose values columns may then be registered with."""
    KINDS[kind.name] = kind


def _kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown encrypted kind {name!r}; known: {sorted(KINDS)}") from None


def normalise(kind: str, raw: object) -> str:
    """The canonical form that is encrypted and indexed; ``ValueError`` when ``raw`` is not such a value."""
    return _kind(kind).normalise(str(raw))


def lookup_value(kind: str, raw: object, *, context: str) -> str | None:
    """The blind index to filter on for an exact search of ``raw`` among values stored under ``context``, or
    ``None`` when ``raw`` is not a value of that kind (then nothing can match)."""
    try:
        value = normalise(kind, raw)
    except ValueError:
        return None
    return crypto.blind_index(value, context=context) if value else None


@dataclass(frozen=True)
class Sealed:
    envelope: str
    index: str
    value: str  # normalised plaintext, for the caller's masked audit diff


def seal(kind: str, raw: object, *, context: str) -> Sealed:
    """Normalise, encrypt and index one value (what a JSON field type stores); ``ValueError`` if invalid."""
    value = normalise(kind, raw)
    return Sealed(crypto.encrypt(value, context=context), crypto.blind_index(value, context=context), value)


# --- the registry -----------------------------------------------------------------------------------------


def json_context(object_key: str, field_key: str) -> str:
    """The context of a custom field's envelope and blind index: ``platform:<object_key>:<field_key>``."""
    return f"platform:{object_key}:{field_key}"


def unmask_permission(object_key: str) -> str:
    return f"{object_key}.unmask"


@dataclass(frozen=True)
class EncryptedColumn:
    model: type[models.Model]
    field: str
    index_field: str | None
    context: str | Callable[[Any], str]  # a callable receives the row (see ``context_fields``)
    kind: str
    object_key: str
    context_fields: tuple[str, ...] = ()  # fields the callable reads; rotation loads them

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field}"

    def context_of(self, instance: Any) -> str:
        return self.context(instance) if callable(self.context) else self.context


@dataclass(frozen=True)
class EncryptedJson:
    model: type[models.Model]
    column: str
    object_key: str | Callable[[Any], str]  # a callable receives the row (custom records: its object's key)
    context_fields: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.column}"

    def context_of(self, instance: Any, field_key: str) -> str:
        key = self.object_key(instance) if callable(self.object_key) else self.object_key
        return json_context(key, field_key)


_columns: dict[tuple[str, str], EncryptedColumn] = {}
_json: dict[tuple[str, str], EncryptedJson] = {}


def _label(model: type[models.Model]) -> str:
    return model._meta.concrete_model._meta.label


def _object_key(model: type[models.Model], object_key: str | None) -> str:
    return object_key or getattr(model, "scope_key", None) or model._meta.label_lower


def _check_fields(model: type[models.Model], paths: tuple[str | None, ...]) -> None:
    # FieldDoesNotExist at start-up rather than at the first write or rotation.
    for path in filter(None, paths):
        m = model
        for part in path.split("__"):
            f = m._meta.get_field(part)
            m = f.related_model or m


def _add(registry: dict, key: tuple[str, str], spec: Any) -> Any:
    existing = registry.get(key)
    if existing is not None and existing != spec:
        raise ValueError(f"{spec.label} is already registered as {existing}")
    registry[key] = spec
    if isinstance(spec.object_key, str):
        perm = unmask_permission(spec.object_key)
        if not permissions.is_declared(perm):
            permissions.declare((perm, f"Reveal masked personal data ({spec.object_key})"))
    return spec


def register(
    model: type[models.Model], *, field: str, context: str | Callable[[Any], str], kind: str = "text",
    index_field: str | None = None, object_key: str | None = None, context_fields: tuple[str, ...] = (),
) -> EncryptedColumn:
    """Declare that ``model.field`` holds envelopes (and ``index_field`` their blind index).

    ``object_key`` (default: the model's ``scope_key``) names the unmask permission ``<object_key>.unmask``,
    which is declared here when its context has not declared it. Call from ``AppConfig.ready()``.
    """
    _kind(kind)
    _check_fields(model, (field, index_field, *context_fields))
    spec = EncryptedColumn(model, field, index_field, context, kind, _object_key(model, object_key),
                           tuple(context_fields))
    return _add(_columns, (_label(model), field), spec)


def register_json(
    model: type[models.Model], *, column: str = "custom", object_key: str | Callable[[Any], str] | None = None,
    context_fields: tuple[str, ...] = (),
) -> EncryptedJson:
    """Declare that the JSON ``column`` may hold envelopes under its top-level field keys (custom fields),
    encrypted under ``json_context(object_key, field_key)``. For a table of many objects pass a callable
    ``object_key`` and the paths it reads in ``context_fields`` (``("object__key",)``)."""
    _check_fields(model, (column, *context_fields))
    spec = EncryptedJson(model, column, _object_key(model, object_key) if not callable(object_key) else object_key,
                         tuple(context_fields))
    return _add(_json, (_label(model), column), spec)


def lookup(model: type[models.Model], field: str, raw: object) -> str | None:
    """The blind index to filter ``model``'s ``index_field`` on for an exact search (fixed-context columns)."""
    spec = column(model, field)
    if callable(spec.context):
        raise ValueError(f"{spec.label} has a per-row context: use lookup_value(kind, raw, context=…)")
    return lookup_value(spec.kind, raw, context=spec.context)


def column(model_or_instance: Any, field: str) -> EncryptedColumn:
    model = model_or_instance if isinstance(model_or_instance, type) else type(model_or_instance)
    spec = _columns.get((_label(model), field))
    if spec is None:
        raise LookupError(f"{_label(model)}.{field} is not a registered encrypted column (kernel.encrypted.register)")
    return spec


def json_column(model_or_instance: Any, column: str = "custom") -> EncryptedJson:
    model = model_or_instance if isinstance(model_or_instance, type) else type(model_or_instance)
    spec = _json.get((_label(model), column))
    if spec is None:
        raise LookupError(f"{_label(model)}.{column} is not a registered encrypted JSON column")
    return spec


def columns() -> list[EncryptedColumn]:
    return sorted(_columns.values(), key=lambda s: s.label)


def json_columns() -> list[EncryptedJson]:
    return sorted(_json.values(), key=lambda s: s.label)


# --- writing, reading, showing ----------------------------------------------------------------------------


def set_encrypted(instance: models.Model, field: str, value: object) -> str:
    """Set the envelope and blind index of a registered column from a raw value (not saved).

    Returns the normalised plaintext (for a masked audit diff); empty input clears both columns.
    Raises ``ValidationFailed`` with the field's reason when the value is not of the column's kind.
    """
    spec = column(instance, field)
    if value is None or not str(value).strip():
        normalised, envelope, index = "", "", ""
    else:
        try:
            normalised = normalise(spec.kind, value)
        except ValueError as exc:
            raise ValidationFailed(f"{field}: {exc}", fields={field: [str(exc)]}) from exc
        context = spec.context_of(instance)
        envelope = crypto.encrypt(normalised, context=context)
        index = crypto.blind_index(normalised, context=context)
    setattr(instance, field, envelope)
    if spec.index_field:
        setattr(instance, spec.index_field, index)
    return normalised


def reveal(instance: models.Model, field: str) -> str:
    """The plaintext of a registered column. For code paths, not people: people go through :func:`reveal_for`."""
    spec = column(instance, field)
    token = getattr(instance, field) or ""
    return crypto.decrypt(token, context=spec.context_of(instance)) if token else ""


def can_unmask(actor: Actor, object_key: str) -> bool:
    return actor.can(unmask_permission(object_key))


def display(instance: models.Model, field: str, actor: Actor) -> str:
    """What a list or page shows: always the masked value (nothing when field security hides the field).

    Even holders of ``<object_key>.unmask`` see the mask here: every unmasking is a deliberate, audited act
    through :func:`reveal_for`, never a side effect of opening a page."""
    spec = column(instance, field)
    if field in actor.hidden_fields(spec.object_key):
        return ""
    return crypto.mask(reveal(instance, field), _kind(spec.kind).mask)


def reveal_for(actor: Actor, instance: models.Model, field: str, reason: str, *, ip: str | None = None) -> str:
    """The plaintext for a person who asked to see it, with an ``unmask`` audit entry (field and reason, never
    the value). A row outside the actor's scope raises ``NotFound``; no unmask permission (or a hidden field)
    raises ``PermissionDenied``; neither records anything."""
    spec = column(instance, field)
    manager = type(instance)._default_manager
    if hasattr(manager, "visible_to") and not manager.visible_to(actor).filter(pk=instance.pk).exists():
        raise NotFound("not found")
    perm = unmask_permission(spec.object_key)
    if not actor.can(perm) or field in actor.hidden_fields(spec.object_key):
        raise PermissionDenied(f"revealing {field} needs the {perm} permission")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("a reason is required to reveal personal data", fields={"reason": ["required"]})
    plain = reveal(instance, field)
    record_write(actor, "unmask", spec.object_key, instance.pk, {}, ip=ip, field=field, reason=reason[:200])
    return plain


# --- rotation and status ----------------------------------------------------------------------------------

NOT_ENCRYPTED = "(not encrypted)"
_KID_HEAD = re.compile(r"^v1:([A-Za-z0-9_-]{1,32}):")


def _all_rows(model: type[models.Model]) -> models.QuerySet:
    # Rotation rewrites every organisation's values: the dangerous, named path on tenant models.
    manager = model._default_manager
    return manager.unscoped_all_orgs() if hasattr(manager, "unscoped_all_orgs") else manager.all()


def _loading(qs: models.QuerySet, *fields: str) -> models.QuerySet:
    """Load only what rotation reads: the pk, the value and the fields its context is computed from."""
    related = sorted({f.rsplit("__", 1)[0] for f in fields if "__" in f})
    if related:
        qs = qs.select_related(*related)
    return qs.only("pk", *fields)


def _walk(value: Any, fn: Callable[[str], str | None]) -> tuple[Any, bool]:
    """``value`` with every envelope string ``s`` replaced by ``fn(s)`` (when not ``None``), and whether any was."""
    if isinstance(value, str):
        if crypto.is_envelope(value):
            new = fn(value)
            if new is not None and new != value:
                return new, True
        return value, False
    if isinstance(value, dict):
        out, changed = {}, False
        for k, v in value.items():
            out[k], c = _walk(v, fn)
            changed |= c
        return out, changed
    if isinstance(value, list):
        items = [_walk(v, fn) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


class _ColumnTarget:
    def __init__(self, spec: EncryptedColumn):
        self.spec, self.label, self.model = spec, spec.label, spec.model

    def rows(self) -> models.QuerySet:
        return _all_rows(self.model).filter(**{f"{self.spec.field}__startswith": "v1:"})

    def stale(self, active: str) -> models.QuerySet:
        stale = self.rows().exclude(**{f"{self.spec.field}__startswith": f"v1:{active}:"})
        return _loading(stale, self.spec.field, *self.spec.context_fields)

    def rotated(self, obj: models.Model, active: str) -> str | None:
        old = getattr(obj, self.spec.field)
        if not crypto.is_envelope(old):
            raise crypto.CryptoError("malformed envelope")
        return crypto.reencrypt(old, context=self.spec.context_of(obj))

    def swap(self, obj: models.Model, new: str) -> int:
        # Compare-and-swap on the value we read: a concurrent write wins and is picked up by a later pass.
        f = self.spec.field
        return _all_rows(self.model).filter(pk=obj.pk, **{f: getattr(obj, f)}).update(**{f: new})

    def count_by_key(self) -> Counter:
        counts: Counter = Counter()
        f = self.spec.field
        heads = _all_rows(self.model).exclude(**{f: ""}).exclude(**{f"{f}__isnull": True})
        for head in heads.annotate(_head=Substr(f, 1, 40)).values_list("_head", flat=True).iterator(chunk_size=2000):
            m = _KID_HEAD.match(head)
            counts[m.group(1) if m else NOT_ENCRYPTED] += 1
        return counts


class _JsonTarget:
    def __init__(self, spec: EncryptedJson):
        self.spec, self.label, self.model = spec, spec.label, spec.model

    def _text(self) -> models.QuerySet:
        return _all_rows(self.model).annotate(_siyu_json_text=Cast(self.spec.column, models.TextField()))

    def rows(self) -> models.QuerySet:
        return self._text().filter(_siyu_json_text__contains='"v1:')

    def stale(self, active: str) -> models.QuerySet:
        # Rows holding at least one envelope under another key (PostgreSQL AREs and Python both do lookahead).
        pattern = f'"v1:(?!{re.escape(active)}:)'
        stale = self._text().filter(_siyu_json_text__regex=pattern)
        return _loading(stale, self.spec.column, *self.spec.context_fields)

    def rotated(self, obj: models.Model, active: str) -> Any | None:
        data = getattr(obj, self.spec.column)
        if not isinstance(data, dict):
            raise crypto.CryptoError("envelopes in a JSON column must sit under a top-level field key")
        out, changed = {}, False
        for key, value in data.items():
            context = self.spec.context_of(obj, key)
            out[key], c = _walk(value, lambda token, context=context: crypto.reencrypt(token, context=context))
            changed |= c
        return out if changed else None

    def swap(self, obj: models.Model, new: Any) -> int:
        # The row was read under select_for_update (PostgreSQL) or SQLite's IMMEDIATE write lock: no lost update.
        return _all_rows(self.model).filter(pk=obj.pk).update(**{self.spec.column: new})

    def count_by_key(self) -> Counter:
        counts: Counter = Counter()
        for data in self.rows().values_list(self.spec.column, flat=True).iterator(chunk_size=2000):
            _walk(data, lambda token: counts.update([crypto.key_id_of(token)]))
        return counts


def _targets() -> list[_ColumnTarget | _JsonTarget]:
    return [_ColumnTarget(s) for s in columns()] + [_JsonTarget(s) for s in json_columns()]


def count_by_key() -> dict[str, Counter]:
    """Values per key id for every registered column (``NOT_ENCRYPTED`` counts clear text left in a column)."""
    return {t.label: t.count_by_key() for t in _targets()}


def values_under(kid: str) -> int:
    return sum(c[kid] for c in count_by_key().values())


def pending(active: str | None = None) -> dict[str, int]:
    """Rows per column that still hold a value under a key other than the active one."""
    active = active or crypto.active_key_id()
    return {t.label: t.stale(active).count() for t in _targets()}


@dataclass
class RotationReport:
    active: str
    rotated: dict[str, int] = dc_field(default_factory=dict)  # label -> values rewritten by this run
    unreadable: dict[str, list[Any]] = dc_field(default_factory=dict)  # label -> pks that would not decrypt
    remaining: dict[str, int] = dc_field(default_factory=dict)  # label -> rows still under another key


MAX_PASSES = 3


def reencrypt_all(
    *, batch_size: int = 1000, progress: Callable[[str, int, int], None] | None = None,
    after_batch: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Re-encrypt every registered value under the active key, ``batch_size`` rows per transaction.

    Resumable: only values under another key are read, so a re-run finishes what a killed run left. A later
    pass picks up values a process with stale keys wrote back under an old key meanwhile. Values that do not
    decrypt are left alone and reported. ``progress(label, done, total)`` is called per batch;
    ``after_batch(label, n)`` after each committed batch (tests use it to simulate a crash).
    """
    active = crypto.active_key_id()
    report = RotationReport(active=active)
    for target in _targets():
        total = target.rows().count()
        done = total - target.stale(active).count()
        if progress:
            progress(target.label, done, total)
        rotated, bad, batch_no = 0, set(), 0
        for _ in range(MAX_PASSES):
            last = None
            while True:
                with transaction.atomic():
                    qs = target.stale(active).order_by("pk")
                    if last is not None:
                        qs = qs.filter(pk__gt=last)
                    batch = list(qs.select_for_update(of=("self",))[:batch_size])
                    changed = 0
                    for obj in batch:
                        try:
                            new = target.rotated(obj, active)
                        except crypto.CryptoError:
                            bad.add(obj.pk)
                            continue
                        if new is not None:
                            changed += target.swap(obj, new)
                if not batch:
                    break
                last, batch_no = batch[-1].pk, batch_no + 1
                rotated += changed
                done += changed
                if progress:
                    progress(target.label, done, total)
                if after_batch:
                    after_batch(target.label, batch_no)
            remaining = target.stale(active).count()
            if remaining <= len(bad):
                break
        report.rotated[target.label] = rotated
        report.remaining[target.label] = remaining
        if bad:
            report.unreadable[target.label] = sorted(bad)
    return report
