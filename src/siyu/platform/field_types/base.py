"""The base of every field type: one small class per type owns validation, storage in JSON, filter operators,
the SQL expression used to filter and sort on the JSON column, export and display.

A value travels through three forms:

* *input*: whatever an API body, a form or a filter gives (str, int, float, bool, list, dict);
* *stored*: the JSON-safe canonical form kept in the record's JSON column (never a float);
* *text form*: what ``column ->> 'key'`` (PostgreSQL) / ``CAST(json_extract(...) AS TEXT)`` (SQLite) yields for
  a stored value, so equality filters compare text and can use a PostgreSQL expression index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from django.db import connection
from django.db.models import Case, DecimalField, F, Func, Q, TextField, Value, When
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Regex,
)

from siyu.kernel.actor import Actor

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
NUMBER_RE = r"^-?[0-9]+(\.[0-9]+)?$"
# Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class FieldError(Exception):
    """A value (or an option) is not valid for a field; the message is shown next to the field."""


@dataclass(frozen=True)
class FieldSpec:
    """What a type needs to know about one field, whether it comes from a definition row or from code."""

    key: str
    type: str
    label: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    required: bool = False
    object_key: str = ""
    crypto: str = ""  # standard personal fields name the context their owner encrypts with

    @property
    def crypto_context(self) -> str:
        # Binds a ciphertext (and its blind index) to this one field: copied elsewhere it fails to decrypt.
        return self.crypto or f"platform:{self.object_key}:{self.key}"


@dataclass(frozen=True)
class CleanContext:
    """Who writes: resolvers (user, lookup) check existence within the actor's organisation."""

    actor: Actor


@dataclass(frozen=True)
class OptionInput:
    """One input of the console's type-specific options editor."""

    name: str
    kind: str  # "int", "text", "choices", "object", "currency"
    label: str


class JsonText(Func):
    """The text of a JSON key (or nested key): ``(col -> 'a' ->> 'b')`` on PostgreSQL (the same expression the
    field index is built on, so the planner can use it), ``CAST(json_extract(col, '$.a.b') AS TEXT)`` on SQLite
    (so integers compare as text there too). Keys are validated identifiers, never user text."""

    output_field = TextField()

    def __init__(self, column: str, *path: str):
        for part in path:
            if not KEY_RE.match(part):
                raise ValueError(f"bad JSON key {part!r}")
        self.path = path
        super().__init__(F(column))

    def as_postgresql(self, compiler, conn, **extra):
        lhs, params = compiler.compile(self.source_expressions[0])
        sql = lhs + "".join(" -> %s" for _ in self.path[:-1]) + " ->> %s"
        return f"({sql})", (*params, *self.path)

    def as_sqlite(self, compiler, conn, **extra):
        lhs, params = compiler.compile(self.source_expressions[0])
        return f"CAST(JSON_EXTRACT({lhs}, %s) AS TEXT)", (*params, "$." + ".".join(self.path))


def safe_number(text_expr) -> Any:
    """A numeric expression over a text one. On PostgreSQL a cast of a non-number raises, and another object's
    field of the same key may hold text, so the cast is guarded; SQLite's CAST never raises."""
    out = DecimalField(max_digits=40, decimal_places=10)
    if connection.vendor == "postgresql":
        return Case(When(Regex(text_expr, NUMBER_RE), then=Cast(text_expr, out)), default=None, output_field=out)
    return Cast(text_expr, out)


def csv_safe(text: str) -> str:
    """Neutralise spreadsheet formula injection on export."""
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


class FieldType:
    """Subclass, set the class attributes, override ``coerce`` (and what else differs), register in registry.py."""

    key: ClassVar[str]
    label: ClassVar[str]
    operators: ClassVar[tuple[str, ...]] = ("eq", "ne", "in", "is_empty")
    sortable: ClassVar[bool] = True
    indexable: ClassVar[bool] = True
    numeric: ClassVar[bool] = False  # lt/gt and sorting compare numbers, not text
    mask_kind: ClassVar[str | None] = None  # personal types: stored encrypted, shown masked
    index_path: ClassVar[tuple[str, ...]] = ()  # sub-path under the field's key that equality filters use
    compatible_from: ClassVar[frozenset[str]] = frozenset()  # types whose stored values stay valid as this type
    empty_texts: ClassVar[tuple[str, ...]] = ("",)
    immutable_options: ClassVar[frozenset[str]] = frozenset()  # options that fix the stored form

    # --- options ----------------------------------------------------------------------------------------
    def option_inputs(self) -> list[OptionInput]:
        return []

    def clean_options(self, options: dict[str, Any], *, ctx: CleanContext) -> dict[str, Any]:
        """Validate a definition's options; unknown option names are refused so typos do not pass silently."""
        allowed = {i.name for i in self.option_inputs()}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise FieldError(f"unknown options: {', '.join(unknown)}")
        return dict(options)

    # --- values -----------------------------------------------------------------------------------------
    def coerce(self, value: Any, spec: FieldSpec) -> Any:
        """Input -> stored form, checking everything that needs no database. ``value`` is never empty here."""
        raise NotImplementedError

    def clean(self, value: Any, spec: FieldSpec, ctx: CleanContext) -> Any:
        """Input -> stored form for a write (may check the database through resolvers)."""
        return self.coerce(value, spec)

    def text_form(self, stored: Any) -> str:
        return str(stored)

    def to_python(self, stored: Any) -> Any:
        """Stored form -> the Python value a model column holds (filters on standard fields compare these)."""
        return stored

    def from_python(self, value: Any, spec: FieldSpec) -> Any:
        """A model column's value -> stored form (to display standard fields through the same type)."""
        return None if value is None or value == "" else self.coerce(value, spec)

    def to_api(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> Any:
        return stored

    def display(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        if stored is None:
            return ""
        value = self.to_api(stored, spec, unmask=unmask)
        return str(value)

    def export(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        return csv_safe(self.display(stored, spec, unmask=unmask))

    def audit_value(self, stored: Any, spec: FieldSpec) -> Any:
        """What the audit log sees (personal types give plaintext that ``auditing.diff`` then masks)."""
        return stored

    # --- filtering and sorting on the JSON column ---------------------------------------------------------
    def filter_value(self, op: str, raw: Any, spec: FieldSpec) -> Any:
        """A filter's raw value -> what :meth:`condition` compares against (stored form by default)."""
        if op == "is_empty":
            return parse_bool(raw)
        if op == "in":
            items = raw if isinstance(raw, list) else [p for p in str(raw).split(",") if p.strip()]
            if not items:
                raise FieldError("give at least one value")
            return [self.coerce(i.strip() if isinstance(i, str) else i, spec) for i in items]
        if op == "contains":
            text = str(raw).strip()
            if not text:
                raise FieldError("give some text")
            return text
        return self.coerce(raw, spec)

    def text_expression(self, column: str, spec: FieldSpec) -> JsonText:
        return JsonText(column, spec.key, *self.index_path)

    def compare_expression(self, column: str, spec: FieldSpec):
        text = JsonText(column, spec.key, *self.index_path)
        return safe_number(text) if self.numeric else text

    def compare_value(self, stored: Any) -> Any:
        return Decimal(self.text_form(stored)) if self.numeric else self.text_form(stored)

    def condition(self, column: str, spec: FieldSpec, op: str, value: Any) -> Q:
        """The ORM condition for ``op`` with an already parsed ``value`` on the JSON column."""
        text = self.text_expression(column, spec)
        if op == "eq":
            return Q(Exact(text, self.text_form(value)))
        if op == "ne":
            return ~Q(Exact(text, self.text_form(value))) | Q(IsNull(text, True))
        if op == "in":
            return Q(In(text, [self.text_form(v) for v in value]))
        if op == "is_empty":
            empty = Q(IsNull(text, True)) | Q(In(text, list(self.empty_texts)))
            return empty if value else ~empty
        if op == "contains":
            return Q(IContains(text, value))
        lookups = {"lt": LessThan, "gt": GreaterThan, "lte": LessThanOrEqual, "gte": GreaterThanOrEqual}
        if op in lookups:
            return Q(lookups[op](self.compare_expression(column, spec), self.compare_value(value)))
        raise FieldError(f"operator {op} is not supported")

    def sort_expressions(self, column: str, spec: FieldSpec):
        """(is-empty flag, value) so that empty values sort last and keyset cursors never hold NULL."""
        expr = self.compare_expression(column, spec)
        empty = Case(When(IsNull(expr, True), then=Value(1)), default=Value(0))
        sentinel = Value(Decimal(0), output_field=expr.output_field) if self.numeric else Value("")
        return empty, Coalesce(expr, sentinel, output_field=expr.output_field)


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise FieldError("must be true or false")


def check_unknown_keys(value: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise FieldError(f"unknown keys: {', '.join(unknown)}")
