"""The mapping of a file's columns to profile data, and the conversion of one row through it.

A mapping is JSON (saved on the job, reusable with ``siyu import --mapping MAP.json``)::

    {"columns": {
        "姓名": {"to": "field", "field": "name"},
        "手机": {"to": "identifier", "type": "phone"},
        "OpenID": {"to": "identifier", "type": "openid", "namespace": "wx1234"},
        "标签": {"to": "tag", "group": "展会"},
        "会员等级": {"to": "custom", "field": "member_level"},
        "备注": {"to": "skip"}},
     "source": "import", "allow_without_identifier": false}

Short forms are accepted too: ``"name"``, ``"identifier:phone"``, ``"identifier:openid:wx1234"``,
``"tag:展会"``, ``"custom:member_level"``, ``"skip"``. Columns of the file the mapping does not name are skipped.
A cell of an identifier or tag column may hold several values separated by ``, ; ， ； 、 |`` or line breaks.

Conversion validates a whole row before anything is written and names every bad cell by its column: a row
with one bad cell is rejected whole (nothing of it is stored).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from siyu.iam.fieldsec import ensure_writable
from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.errors import ValidationFailed
from siyu.platform.field_types.base import CleanContext, FieldError
from siyu.platform.selectors import ObjectMeta, object_meta

from ..identifiers import NAMESPACED, Identifier
from ..models import IdentityType, Tag, TagGroup, TagGroupKind
from ..rules import BUILTIN_BLOCKLIST
from .identities import normalise_fast

OBJECT = "cdp.profile"
TEXT_FIELDS = {"name": 200, "province": 40, "city": 40, "channel": 120}
FIELDS = (*TEXT_FIELDS, "gender", "birthday")
TARGETS = ("field", "identifier", "tag", "custom", "skip")
SPLIT = re.compile(r"[,;，；、|\n\r]+")
GENDERS = {
    "男": "male", "男性": "male", "m": "male", "male": "male", "先生": "male",
    "女": "female", "女性": "female", "f": "female", "female": "female", "女士": "female",
    "未知": "unknown", "unknown": "unknown", "u": "unknown", "保密": "unknown",
}
_DATE_FORMS = (
    re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)
MAX_TAG_CHARS = 80
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly


@dataclass(frozen=True)
class Column:
    index: int
    name: str
    to: str
    field: str = ""  # standard field or custom field key
    type: str = ""  # identifier type
    namespace: str = ""
    group: str = ""  # tag group


@dataclass
class Compiled:
    """A mapping checked against a file's header and the actor's rights, ready to convert rows."""

    columns: list[Column]
    width: int  # number of columns in the header
    source: str
    allow_without_identifier: bool
    meta: ObjectMeta
    ctx: CleanContext
    can_create_tags: bool
    known_tags: dict[tuple[str, str], int] = field(default_factory=dict)  # (group, name) -> tag id
    today: dt.date = field(default_factory=lambda: clock.now().date())


@dataclass
class Row:
    """A valid row: standard field values, identifiers (normalised), tags (group, name) and custom values."""

    line: int
    cells: list[str]
    fields: dict[str, Any]
    identifiers: list[Identifier]
    tags: list[tuple[str, str]]
    custom: dict[str, Any]


@dataclass
class RowError:
    line: int
    cells: list[str]
    reasons: dict[str, list[str]]

    def text(self) -> str:
        return "; ".join(f"{k}: {', '.join(v)}" if k != "row" else ", ".join(v) for k, v in self.reasons.items())


# --- the mapping -----------------------------------------------------------------------------------------


def _target(raw: Any) -> dict[str, str]:
    """A column's target in the long form."""
    if isinstance(raw, dict):
        return {k: str(v) for k, v in raw.items() if v is not None}
    if not isinstance(raw, str):
        return {"to": "?"}
    head, _, rest = raw.partition(":")
    if head in FIELDS:
        return {"to": "field", "field": head}
    if head == "identifier":
        type_, _, ns = rest.partition(":")
        return {"to": "identifier", "type": type_, "namespace": ns}
    if head == "tag":
        return {"to": "tag", "group": rest}
    if head == "custom":
        return {"to": "custom", "field": rest}
    if head in ("skip", ""):
        return {"to": "skip"}
    return {"to": "?", "field": raw}


def normalise_mapping(data: Any) -> dict[str, Any]:
    """The mapping JSON in its stored (long) form; shape errors are a 422 naming the column."""
    if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
        raise ValidationFailed("bad mapping", fields={"mapping": ['an object with "columns": {column: target}']})
    columns = {str(k)[:100]: _target(v) for k, v in data["columns"].items()}
    source = data.get("source") or "import"
    if not isinstance(source, str) or len(source) > 60:
        raise ValidationFailed("bad mapping", fields={"source": ["at most 60 characters"]})
    return {"columns": columns, "source": source.strip() or "import",
            "allow_without_identifier": bool(data.get("allow_without_identifier", False))}


def compile_mapping(actor: Actor, data: Any, header: list[str]) -> Compiled:
    """Check a mapping against the file's header and what the actor may write; every problem at once."""
    mapping = normalise_mapping(data)
    meta = object_meta(actor, OBJECT)
    errors: dict[str, list[str]] = {}
    positions = {name: i for i, name in enumerate(header)}
    columns: list[Column] = []
    seen_fields: dict[str, str] = {}
    for name, target in mapping["columns"].items():
        to = target.get("to", "?")
        if to == "skip":
            continue
        if name not in positions:
            errors[name] = ["no such column in the file"]
            continue
        col = Column(positions[name], name, to, target.get("field", ""), target.get("type", ""),
                     target.get("namespace", ""), target.get("group", "").strip())
        problem = _check_column(actor, meta, col)
        if problem is None and to in ("field", "custom"):
            key = f"{to}:{col.field}"
            if key in seen_fields:
                problem = f"{col.field} is already filled from column {seen_fields[key]}"
            seen_fields[key] = name
        if problem:
            errors[name] = [problem]
        else:
            columns.append(col)
    if not errors and not mapping["allow_without_identifier"] and not any(c.to == "identifier" for c in columns):
        errors["columns"] = ["map at least one column to an identifier (phone, email or an id) to find duplicates"]
    if not errors:
        fields = [c.field for c in columns if c.to == "field"]
        extra = ["identities"] if any(c.to == "identifier" for c in columns) else []
        extra += ["tags"] if any(c.to == "tag" for c in columns) else []
        try:
            ensure_writable(actor, OBJECT, [*fields, *extra])
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed("the mapping is not valid", fields=errors)
    compiled = Compiled(columns, len(header), mapping["source"], mapping["allow_without_identifier"], meta,
                        CleanContext(actor), actor.can("cdp.tag.manage"))
    groups = {c.group for c in columns if c.to == "tag"}
    for tag_id, group, name in Tag.objects.in_org(actor).filter(group__name__in=groups).values_list(
            "pk", "group__name", "name"):
        compiled.known_tags[(group, name)] = tag_id
    return compiled


def _check_column(actor: Actor, meta: ObjectMeta, col: Column) -> str | None:
    if col.to == "field":
        return None if col.field in FIELDS else f"unknown field {col.field[:40]!r} (one of {', '.join(FIELDS)})"
    if col.to == "identifier":
        if col.type not in IdentityType.values or col.type == IdentityType.GROUP_ID:
            # group_id belongs to company accounts (/v1/group); an import creates people
            return f"unknown identifier type {col.type[:40]!r}"
        if col.type in NAMESPACED and not col.namespace:
            return "this identifier type needs its WeCom corp id or WeChat app id as namespace"
        return None
    if col.to == "custom":
        fd = meta.custom_field(col.field)
        if fd is None:
            return f"no custom field {col.field[:40]!r} on customers"
        if col.field in actor.read_only_fields(OBJECT):
            return "this field is read-only for you"
        return None
    if col.to == "tag":
        if not col.group or len(col.group) > MAX_TAG_CHARS:
            return "name the tag group (1-80 characters)"
        group = TagGroup.objects.in_org(actor).filter(name=col.group).first()
        if group is not None and group.kind == TagGroupKind.CHANNEL:
            return f"the tag group {col.group} is managed by {group.channel}"
        if group is None and not actor.can("cdp.tag.manage"):
            return "no such tag group, and you may not create tags"
        return None
    return f"unknown target (one of {', '.join(TARGETS)})"


# --- one row ---------------------------------------------------------------------------------------------


def _clean_text(value: str, limit: int) -> str:
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    if _CONTROL.search(text):
        raise ValueError("contains control characters")
    return text


def parse_gender(value: str) -> str:
    found = GENDERS.get(value.strip().lower())
    if found is None:
        raise ValueError("男/女/未知 or male/female/unknown")
    return found


def parse_birthday(value: str, today: dt.date | None = None) -> dt.date:
    text = unicodedata.normalize("NFKC", value).strip()
    for form in _DATE_FORMS:
        m = form.fullmatch(text)
        if m:
            try:
                day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                break
            if day.year < 1900 or day > (today or clock.now().date()):
                raise ValueError("between 1900 and today")
            return day
    raise ValueError("a date such as 1990-01-31, 1990/1/31 or 1990年1月31日")


def convert(compiled: Compiled, line: int, cells: list[str]) -> Row | RowError:
    """One record through the mapping: a Row, or a RowError naming every bad cell (nothing half-kept)."""
    if len(cells) != compiled.width:
        # A trailing empty cell or two is what spreadsheet software writes: tolerated when they are empty.
        if len(cells) > compiled.width and not any(c.strip() for c in cells[compiled.width:]):
            cells = cells[: compiled.width]
        else:
            return RowError(line, cells, {"row": [f"expected {compiled.width} columns, found {len(cells)}"]})
    errors: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    identifiers: list[Identifier] = []
    tags: list[tuple[str, str]] = []
    custom_raw: dict[str, str] = {}
    custom_cols: dict[str, str] = {}
    for col in compiled.columns:
        raw = cells[col.index]
        if not raw.strip():
            continue
        try:
            if col.to == "field":
                if col.field in TEXT_FIELDS:
                    fields[col.field] = _clean_text(raw, TEXT_FIELDS[col.field])
                elif col.field == "gender":
                    fields["gender"] = parse_gender(raw)
                else:
                    fields["birthday"] = parse_birthday(raw, compiled.today)
            elif col.to == "identifier":
                for part in SPLIT.split(raw):
                    if part.strip():
                        identifiers.append(_identifier(col, part))
            elif col.to == "tag":
                for part in SPLIT.split(raw):
                    name = _clean_text(part, MAX_TAG_CHARS)
                    if name:
                        _check_tag(compiled, col.group, name)
                        tags.append((col.group, name))
            else:
                custom_raw[col.field] = raw.strip()
                custom_cols[col.field] = col.name
        except ValueError as exc:
            errors.setdefault(col.name, []).append(str(exc))
    custom: dict[str, Any] = {}
    for key, raw in custom_raw.items():
        fd = compiled.meta.custom_field(key)
        try:
            custom[key] = compiled.meta.type_of(fd.type).clean(raw, compiled.meta.spec(fd), compiled.ctx)
        except FieldError as exc:
            errors.setdefault(custom_cols[key], []).append(str(exc))
    if not errors and not identifiers and not compiled.allow_without_identifier:
        errors["row"] = ["no identifier (phone, email or id) to match the customer by"]
    if errors:
        return RowError(line, cells, errors)
    return Row(line, cells, fields, list(dict.fromkeys(identifiers)), list(dict.fromkeys(tags)), custom)


def _identifier(col: Column, raw: str) -> Identifier:
    try:
        return normalise_fast(col.type, raw, col.namespace)
    except ValidationFailed as exc:
        reasons = [r for v in exc.fields.values() for r in v]
        raise ValueError(", ".join(reasons) or exc.message) from None


def _check_tag(compiled: Compiled, group: str, name: str) -> None:
    if (group, name) not in compiled.known_tags and not compiled.can_create_tags:
        raise ValueError(f"no tag {group}/{name}, and you may not create tags")


def is_blocklisted(ident: Identifier) -> bool:
    return (ident.type, ident.value) in BUILTIN_BLOCKLIST
