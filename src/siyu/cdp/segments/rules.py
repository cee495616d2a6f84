"""The segment rule model: a tree of AND / OR / NOT groups over conditions, parsed and validated into frozen
dataclasses that the compiler turns into one SQL query.

Wire form (what the API and the rule builder send, and what ``Segment.rules`` stores after normalisation)::

    {"op": "and", "rules": [                                  # "and" | "or": "rules" is a list of nodes
      {"type": "attribute", "field": "gender", "op": "eq", "value": "female"},   # standard or custom field
      {"type": "tag", "tag_ids": [3, 5], "match": "any"},                       # "any" | "all"
      {"type": "identity", "identity_type": "phone"},                           # optional "namespace"
      {"type": "consent", "purpose": "marketing", "channel": "wecom"},          # channel optional
      {"type": "lifecycle", "stages": ["order", "repurchase"]},
      {"type": "event", "name": "Product Viewed", "did": true, "min_count": 3, "within_days": 30,
       "properties": [{"key": "sku", "op": "eq", "value": "SKU0001"}]},
      {"op": "not", "rule": {...}}                            # "not": one node under "rule"
    ]}

Every problem is reported at once, keyed by the path of the bad node (``rules.rules[2].within_days``), as a
422 — never a 500. Limits: depth, number of nodes, list sizes and the size of the JSON document.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from siyu.kernel.actor import Actor
from siyu.kernel.errors import ValidationFailed

MAX_DEPTH = 6  # nesting of groups / NOT; deeper trees are not something a person builds or reads
MAX_NODES = 60  # conditions plus groups
MAX_JSON_BYTES = 32_000
MAX_LIST = 50  # tag ids, stages, "in" values
MAX_PROPERTIES = 5
MAX_WINDOW_DAYS = 3650
MAX_PROPERTY_WINDOW_DAYS = 90  # property filters read raw events of the window: the window must be bounded
MAX_COUNT = 100_000
PROPERTY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
PROPERTY_OPS = ("eq", "ne", "in", "gt", "gte", "lt", "lte", "exists")
NUMERIC_OPS = ("gt", "gte", "lt", "lte")
CONDITION_TYPES = ("attribute", "tag", "identity", "consent", "lifecycle", "event")


# --- the parsed tree ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    op: str  # "and" | "or"
    rules: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    rule: Node


@dataclass(frozen=True)
class Attribute:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class TagCondition:
    tag_ids: tuple[int, ...]
    match: str  # "any" | "all"


@dataclass(frozen=True)
class IdentityCondition:
    identity_type: str
    namespace: str | None  # None: any namespace


@dataclass(frozen=True)
class ConsentCondition:
    purpose_id: int
    purpose: str
    channel: str  # "" = the purpose's all-channel consent


@dataclass(frozen=True)
class LifecycleCondition:
    stages: tuple[str, ...]


@dataclass(frozen=True)
class PropertyFilter:
    key: str
    op: str
    value: Any  # str, a number (as str for numeric ops), a tuple for "in", bool for "exists"


@dataclass(frozen=True)
class EventCondition:
    name: str
    did: bool
    min_count: int
    within_days: int | None
    properties: tuple[PropertyFilter, ...]


Node = Group | Not | Attribute | TagCondition | IdentityCondition | ConsentCondition | LifecycleCondition | EventCondition


# --- parsing --------------------------------------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.fields.setdefault(path, []).append(message)


class Validator:
    """Parses rule trees for one actor; what validation must ask the database (tags, consent purposes, stages,
    the profile's fields) is asked once per validator, however many trees it parses."""

    def __init__(self, actor: Actor):
        self.actor = actor
        self.errors = _Errors()
        self.nodes = 0
        self._tags: set[int] | None = None
        self._purposes: dict[str, tuple[int, list[str]]] | None = None
        self._stages: set[str] | None = None
        self._meta: Any = None

    def parse(self, raw: Any, path: str = "rules") -> Node:
        """Validate ``raw`` (the wire form) and return the tree; raises ``ValidationFailed`` listing every
        problem under the path of its node."""
        self.errors, self.nodes = _Errors(), 0
        try:
            size = len(json.dumps(raw, ensure_ascii=False).encode())
        except (TypeError, ValueError):
            raise ValidationFailed("bad rules", fields={path: ["not JSON"]}) from None
        if size > MAX_JSON_BYTES:
            raise ValidationFailed("rules too large", fields={path: [f"at most {MAX_JSON_BYTES} bytes of JSON"]})
        node = _node(raw, path, 1, self)
        if self.nodes > MAX_NODES:
            self.errors.add(path, f"at most {MAX_NODES} conditions and groups")
        if self.errors.fields:
            raise ValidationFailed("invalid segment rules", fields=self.errors.fields)
        assert node is not None
        return node

    def tag_ids(self) -> set[int]:
        if self._tags is None:
            from ..models import Tag

            self._tags = set(Tag.objects.in_org(self.actor).values_list("pk", flat=True))
        return self._tags

    def purposes(self) -> dict[str, tuple[int, list[str]]]:
        if self._purposes is None:
            from ..models import ConsentPurpose

            self._purposes = {k: (pk, chans or []) for k, pk, chans in
                              ConsentPurpose.objects.in_org(self.actor).values_list("key", "pk", "channels")}
        return self._purposes

    def stages(self) -> set[str]:
        if self._stages is None:
            from ..models import LifecycleStageDefinition

            self._stages = set(LifecycleStageDefinition.objects.in_org(self.actor).values_list("key", flat=True))
        return self._stages

    def meta(self):
        if self._meta is None:
            from siyu.platform.selectors import object_meta

            self._meta = object_meta(self.actor, "cdp.profile")
        return self._meta



def parse(raw: Any, *, actor: Actor, path: str = "rules") -> Node:
    """Validate ``raw`` for ``actor``'s organisation and field access and return the tree (see ``Validator``)."""
    return Validator(actor).parse(raw, path)


def _node(raw: Any, path: str, depth: int, ctx: Validator) -> Node | None:
    ctx.nodes += 1
    if ctx.nodes > MAX_NODES:
        return None  # reported once by parse()
    if not isinstance(raw, dict):
        ctx.errors.add(path, "must be an object: a group {op, rules}, {op: not, rule} or a condition {type, …}")
        return None
    if "type" in raw:
        kind = raw["type"]
        if kind not in CONDITION_TYPES:
            ctx.errors.add(f"{path}.type", f"one of {', '.join(CONDITION_TYPES)}")
            return None
        return _CONDITIONS[kind](raw, path, ctx)
    op = raw.get("op")
    if op not in ("and", "or", "not"):
        ctx.errors.add(f"{path}.op", 'a group needs "op": "and", "or" or "not" (a condition needs "type")')
        return None
    if depth > MAX_DEPTH:
        ctx.errors.add(path, f"groups nest at most {MAX_DEPTH} deep")
        return None
    _unknown(raw, {"op", "rule"} if op == "not" else {"op", "rules"}, path, ctx)
    if op == "not":
        child = _node(raw.get("rule"), f"{path}.rule", depth + 1, ctx)
        return Not(child) if child is not None else None
    items = raw.get("rules")
    if not isinstance(items, list):
        ctx.errors.add(f"{path}.rules", "must be a list")
        return None
    children = [_node(item, f"{path}.rules[{i}]", depth + 1, ctx) for i, item in enumerate(items)]
    if any(c is None for c in children):
        return None
    return Group(op, tuple(children))  # type: ignore[arg-type]


def _unknown(raw: dict, allowed: set[str], path: str, ctx: Validator) -> None:
    for key in raw:
        if key not in allowed:
            ctx.errors.add(f"{path}.{key}", "unknown key")


def _int(raw: dict, key: str, path: str, ctx: Validator, *, default: int | None, lo: int, hi: int,
         nullable: bool = False) -> int | None:
    value = raw.get(key, default)
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        ctx.errors.add(f"{path}.{key}", f"a whole number from {lo} to {hi}")
        return None
    return value


def _text(raw: dict, key: str, path: str, ctx: Validator, *, limit: int, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit or "\x00" in value:
        ctx.errors.add(f"{path}.{key}", f"text of 1 to {limit} characters")
        return None
    return value.strip()


def _attribute(raw: dict, path: str, ctx: Validator) -> Node | None:
    from siyu.platform.filtering import Filter, build_condition

    _unknown(raw, {"type", "field", "op", "value"}, path, ctx)
    field, op, value = raw.get("field"), raw.get("op"), raw.get("value")
    if not isinstance(field, str) or not isinstance(op, str):
        ctx.errors.add(path, 'an attribute condition needs "field" and "op"')
        return None
    if isinstance(value, list):
        if not value or len(value) > MAX_LIST or not all(isinstance(v, str | int) and not isinstance(v, bool)
                                                          for v in value):
            ctx.errors.add(f"{path}.value", f"a list of 1 to {MAX_LIST} texts or numbers")
            return None
    elif isinstance(value, bool | int | float):
        value = str(value).lower() if isinstance(value, bool) else str(value)
    elif not isinstance(value, str):
        ctx.errors.add(f"{path}.value", "give a value")
        return None
    if isinstance(value, str) and (len(value) > 500 or "\x00" in value):
        ctx.errors.add(f"{path}.value", "text of at most 500 characters")
        return None
    try:
        # The platform owns fields, operators and values (standard and custom, field security included):
        # building the condition once validates it, and the compiler builds it the same way.
        build_condition(ctx.actor, ctx.meta(), Filter(field, op, value))
    except ValidationFailed as exc:
        for messages in exc.fields.values():
            for message in messages:
                ctx.errors.add(f"{path}.{'field' if message == 'unknown field' else 'op' if 'operator' in message else 'value'}",
                               message)
        return None
    return Attribute(field, op, tuple(value) if isinstance(value, list) else value)


def _tag(raw: dict, path: str, ctx: Validator) -> Node | None:
    _unknown(raw, {"type", "tag_ids", "match"}, path, ctx)
    ids = raw.get("tag_ids")
    match = raw.get("match", "any")
    if match not in ("any", "all"):
        ctx.errors.add(f"{path}.match", '"any" or "all"')
        return None
    if (not isinstance(ids, list) or not ids or len(ids) > MAX_LIST
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)):
        ctx.errors.add(f"{path}.tag_ids", f"a list of 1 to {MAX_LIST} tag ids")
        return None
    unknown = [i for i in ids if i not in ctx.tag_ids()]
    if unknown:
        ctx.errors.add(f"{path}.tag_ids", f"no such tags: {', '.join(map(str, unknown))}")
        return None
    return TagCondition(tuple(sorted(set(ids))), match)


def _identity(raw: dict, path: str, ctx: Validator) -> Node | None:
    from ..models import IdentityType

    _unknown(raw, {"type", "identity_type", "namespace"}, path, ctx)
    kind = raw.get("identity_type")
    if kind not in IdentityType.values:
        ctx.errors.add(f"{path}.identity_type", f"one of {', '.join(IdentityType.values)}")
        return None
    namespace = raw.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or len(namespace) > 80):
        ctx.errors.add(f"{path}.namespace", "text of at most 80 characters")
        return None
    return IdentityCondition(kind, namespace)


def _consent(raw: dict, path: str, ctx: Validator) -> Node | None:
    _unknown(raw, {"type", "purpose", "channel"}, path, ctx)
    purpose = raw.get("purpose")
    channel = raw.get("channel") or ""
    if not isinstance(purpose, str) or purpose not in ctx.purposes():
        ctx.errors.add(f"{path}.purpose", f"one of {', '.join(sorted(ctx.purposes())) or '(no purposes yet)'}")
        return None
    pk, channels = ctx.purposes()[purpose]
    if not isinstance(channel, str) or (channel and channels and channel not in channels):
        ctx.errors.add(f"{path}.channel", f"{purpose} covers {', '.join(channels) or 'every channel'}")
        return None
    return ConsentCondition(pk, purpose, channel)


def _lifecycle(raw: dict, path: str, ctx: Validator) -> Node | None:
    _unknown(raw, {"type", "stages"}, path, ctx)
    stages = raw.get("stages")
    if not isinstance(stages, list) or not stages or len(stages) > MAX_LIST or not all(isinstance(s, str) for s in stages):
        ctx.errors.add(f"{path}.stages", "a list of stage keys")
        return None
    unknown = [s for s in stages if s not in ctx.stages()]
    if unknown:
        ctx.errors.add(f"{path}.stages", f"no such stages: {', '.join(unknown)}")
        return None
    return LifecycleCondition(tuple(sorted(set(stages))))


def _event(raw: dict, path: str, ctx: Validator) -> Node | None:
    _unknown(raw, {"type", "name", "did", "min_count", "within_days", "properties"}, path, ctx)
    name = _text(raw, "name", path, ctx, limit=200)
    did = raw.get("did", True)
    if not isinstance(did, bool):
        ctx.errors.add(f"{path}.did", "true (did) or false (did not)")
    min_count = _int(raw, "min_count", path, ctx, default=1, lo=1, hi=MAX_COUNT)
    within = _int(raw, "within_days", path, ctx, default=None, lo=1, hi=MAX_WINDOW_DAYS, nullable=True)
    props = raw.get("properties") or []
    if not isinstance(props, list) or len(props) > MAX_PROPERTIES:
        ctx.errors.add(f"{path}.properties", f"a list of at most {MAX_PROPERTIES} property filters")
        return None
    parsed = [_property(p, f"{path}.properties[{i}]", ctx) for i, p in enumerate(props)]
    if props and (within is None or within > MAX_PROPERTY_WINDOW_DAYS) and "within_days" not in ctx.errors.fields:
        ctx.errors.add(f"{path}.within_days", f"property filters need a window of at most {MAX_PROPERTY_WINDOW_DAYS} days")
        return None
    if name is None or min_count is None or not isinstance(did, bool) or any(p is None for p in parsed):
        return None
    return EventCondition(name, did, min_count, within, tuple(parsed))  # type: ignore[arg-type]


def _property(raw: Any, path: str, ctx: Validator) -> PropertyFilter | None:
    if not isinstance(raw, dict):
        ctx.errors.add(path, '{"key", "op", "value"}')
        return None
    _unknown(raw, {"key", "op", "value"}, path, ctx)
    key, op, value = raw.get("key"), raw.get("op", "eq"), raw.get("value")
    if not isinstance(key, str) or not PROPERTY_KEY.match(key):
        ctx.errors.add(f"{path}.key", "a property name of letters, digits and _ (at most 64)")
        return None
    if op not in PROPERTY_OPS:
        ctx.errors.add(f"{path}.op", f"one of {', '.join(PROPERTY_OPS)}")
        return None
    if op == "exists":
        if not isinstance(value, bool):
            ctx.errors.add(f"{path}.value", "true or false")
            return None
        return PropertyFilter(key, op, value)
    if op == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_LIST or not all(_scalar(v) for v in value):
            ctx.errors.add(f"{path}.value", f"a list of 1 to {MAX_LIST} texts or numbers")
            return None
        return PropertyFilter(key, op, tuple(_as_text(v) for v in value))
    if not _scalar(value):
        ctx.errors.add(f"{path}.value", "a text or a number")
        return None
    text = _as_text(value)
    if op in NUMERIC_OPS and not re.match(r"^-?[0-9]+(\.[0-9]+)?$", text):
        ctx.errors.add(f"{path}.value", "a number")
        return None
    return PropertyFilter(key, op, text)


def _scalar(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    return not isinstance(value, str) or (len(value) <= 200 and "\x00" not in value)


def _as_text(value: Any) -> str:
    # Property values compare as the JSON value's text (->> on PostgreSQL, CAST(json_extract) on SQLite).
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


_CONDITIONS = {"attribute": _attribute, "tag": _tag, "identity": _identity, "consent": _consent,
               "lifecycle": _lifecycle, "event": _event}


# --- back to the wire form ------------------------------------------------------------------------------------


def to_wire(node: Node) -> dict[str, Any]:
    """The normalised wire form stored in ``Segment.rules`` (defaults filled in, lists sorted)."""
    if isinstance(node, Group):
        return {"op": node.op, "rules": [to_wire(c) for c in node.rules]}
    if isinstance(node, Not):
        return {"op": "not", "rule": to_wire(node.rule)}
    if isinstance(node, Attribute):
        return {"type": "attribute", "field": node.field, "op": node.op,
                "value": list(node.value) if isinstance(node.value, tuple) else node.value}
    if isinstance(node, TagCondition):
        return {"type": "tag", "tag_ids": list(node.tag_ids), "match": node.match}
    if isinstance(node, IdentityCondition):
        out = {"type": "identity", "identity_type": node.identity_type}
        return out if node.namespace is None else {**out, "namespace": node.namespace}
    if isinstance(node, ConsentCondition):
        return {"type": "consent", "purpose": node.purpose, "channel": node.channel}
    if isinstance(node, LifecycleCondition):
        return {"type": "lifecycle", "stages": list(node.stages)}
    assert isinstance(node, EventCondition)
    return {"type": "event", "name": node.name, "did": node.did, "min_count": node.min_count,
            "within_days": node.within_days,
            "properties": [{"key": p.key, "op": p.op, "value": list(p.value) if isinstance(p.value, tuple) else p.value}
                           for p in node.properties]}


EVERYONE: dict[str, Any] = {"op": "and", "rules": []}
