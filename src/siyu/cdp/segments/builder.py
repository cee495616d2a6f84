"""The console rule builder's form ⇄ the rule tree's wire form, with no JavaScript of our own (CSP allows
only our static scripts, and htmx re-renders the builder from the server).

Each node of the tree has an id (``n``, ``n-0``, ``n-0-1``: the path of child positions) and its fields are
posted as ``<id>:<field>``; a group lists its children by position. A node's "not" checkbox wraps it in
``{"op": "not", "rule": …}``. Validation errors (keyed by wire paths such as ``rules.rules[0].rule.name``) are
mapped back to the node they belong to, so the builder shows each message under its condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .rules import MAX_NODES, MAX_PROPERTIES

ROOT = "n"
EMPTY_CONDITION: dict[str, Any] = {"type": "attribute", "field": "gender", "op": "eq", "value": ""}


def from_form(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The posted builder → (wire rules, wire path → node id). Lenient: values are passed on as typed, the
    rule validator judges them."""
    paths: dict[str, str] = {}
    return _read(data, ROOT, "rules", paths, 0), paths


def _get(data, key, default=""):
    return data.get(key, default) if not hasattr(data, "getlist") else (data.get(key) or default)


def _list(data, key) -> list[str]:
    return [v for v in (data.getlist(key) if hasattr(data, "getlist") else data.get(key, [])) if v != ""]


def _read(data, nid: str, path: str, paths: dict[str, str], depth: int) -> dict[str, Any]:
    negated = _get(data, f"{nid}:not") == "1"
    inner_path = f"{path}.rule" if negated else path
    paths[inner_path] = nid
    if negated:
        paths.setdefault(path, nid)
    if _get(data, f"{nid}:kind", "group" if nid == ROOT else "cond") == "group" and depth < 8:
        children = []
        for i in range(MAX_NODES + 1):
            cid = f"{nid}-{i}"
            if f"{cid}:kind" in data:
                children.append(_read(data, cid, f"{inner_path}.rules[{len(children)}]", paths, depth + 1))
        node: dict[str, Any] = {"op": _get(data, f"{nid}:op", "and"), "rules": children}
    else:
        node = _condition(data, nid)
    return {"op": "not", "rule": node} if negated else node


def _number(raw: str, blank=None):
    raw = (raw or "").strip()
    if not raw:
        return blank
    return int(raw) if raw.isdigit() else raw


def _condition(data, nid: str) -> dict[str, Any]:
    kind = _get(data, f"{nid}:type", "attribute")
    f = lambda name: _get(data, f"{nid}:{name}").strip()  # noqa: E731 - a local shorthand
    if kind == "attribute":
        op, value = f("op") or "eq", f("value")
        if op == "in":
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif op == "is_empty":
            value = value.lower() not in ("", "0", "false", "no")
        return {"type": kind, "field": f("field"), "op": op, "value": value}
    if kind == "tag":
        ids = [int(v) for v in _list(data, f"{nid}:tag_ids") if v.isdigit()]
        return {"type": kind, "tag_ids": ids, "match": f("match") or "any"}
    if kind == "identity":
        out = {"type": kind, "identity_type": f("identity_type")}
        return {**out, "namespace": f("namespace")} if f("namespace") else out
    if kind == "consent":
        return {"type": kind, "purpose": f("purpose"), "channel": f("channel")}
    if kind == "lifecycle":
        return {"type": kind, "stages": _list(data, f"{nid}:stages")}
    if kind == "event":
        keys, ops, values = (_list_all(data, f"{nid}:{k}") for k in ("pkey", "pop", "pval"))
        props = [{"key": k.strip(), "op": o or "eq", "value": _prop_value(o, v)}
                 for k, o, v in zip(keys, ops, values, strict=False) if k.strip()][:MAX_PROPERTIES]
        return {"type": kind, "name": f("name"), "did": f("did") != "0", "min_count": _number(f("min_count"), 1),
                "within_days": _number(f("within_days")), "properties": props}
    return {"type": kind}


def _list_all(data, key) -> list[str]:
    return list(data.getlist(key)) if hasattr(data, "getlist") else list(data.get(key, []))


def _prop_value(op: str, raw: str) -> Any:
    raw = (raw or "").strip()
    if op == "in":
        return [v.strip() for v in raw.split(",") if v.strip()]
    if op == "exists":
        return raw.lower() not in ("0", "false", "no")
    return raw


# --- wire → what the template renders ---------------------------------------------------------------------


def to_view(rules: Mapping[str, Any] | None, nid: str = ROOT) -> dict[str, Any]:
    """The wire form → nested dictionaries the ``_node.html`` template renders (ids assigned afresh)."""
    node: Any = dict(rules or {"op": "and", "rules": []})
    negated = False
    if node.get("op") == "not" and isinstance(node.get("rule"), dict):
        negated, node = True, node["rule"]
    if "type" not in node:
        children = node.get("rules") if isinstance(node.get("rules"), list) else []
        return {"id": nid, "kind": "group", "negated": negated, "op": node.get("op") if node.get("op") in ("and", "or") else "and",
                "children": [to_view(c, f"{nid}-{i}") for i, c in enumerate(children) if isinstance(c, dict)]}
    view = {"id": nid, "kind": "cond", "negated": negated, **node}
    value = view.get("value")
    if isinstance(value, list):
        view["value"] = ", ".join(map(str, value))
    if view.get("type") == "event":
        props = [dict(p) for p in view.get("properties") or [] if isinstance(p, dict)]
        for p in props:
            if isinstance(p.get("value"), list):
                p["value"] = ", ".join(map(str, p["value"]))
        view["properties"] = props + [{"key": "", "op": "eq", "value": ""}] * (1 if len(props) < MAX_PROPERTIES else 0)
    return view


def apply_action(rules: dict[str, Any], action: str) -> dict[str, Any]:
    """``add-cond:<id>`` / ``add-group:<id>`` (to a group), ``remove:<id>`` on the wire tree (by view ids)."""
    verb, _, target = action.partition(":")
    view = to_view(rules)
    _act(view, verb, target)
    return to_wire_view(view)


def _act(view: dict[str, Any], verb: str, target: str) -> bool:
    if view["kind"] != "group":
        return False
    if view["id"] == target and verb in ("add-cond", "add-group"):
        child = {"op": "and", "rules": [dict(EMPTY_CONDITION)]} if verb == "add-group" else dict(EMPTY_CONDITION)
        view["children"].append(to_view(child, f"{target}-{len(view['children'])}"))
        return True
    for i, child in enumerate(view["children"]):
        if child["id"] == target and verb == "remove":
            del view["children"][i]
            return True
        if _act(child, verb, target):
            return True
    return False


def to_wire_view(view: dict[str, Any]) -> dict[str, Any]:
    if view["kind"] == "group":
        node: dict[str, Any] = {"op": view["op"], "rules": [to_wire_view(c) for c in view["children"]]}
    else:
        node = {k: v for k, v in view.items() if k not in ("id", "kind", "negated")}
        if node.get("type") == "attribute" and node.get("op") == "in" and isinstance(node.get("value"), str):
            node["value"] = [v.strip() for v in node["value"].split(",") if v.strip()]
        if node.get("type") == "event":
            node["properties"] = [{**p, "value": _prop_value(p.get("op", "eq"), p["value"])
                                   if isinstance(p.get("value"), str) else p.get("value")}
                                  for p in node.get("properties", []) if p.get("key")]
    return {"op": "not", "rule": node} if view["negated"] else node


def errors_by_node(fields: Mapping[str, list[str]], paths: Mapping[str, str]) -> dict[str, list[str]]:
    """Validation errors keyed by wire paths → messages per builder node id (``field: message``)."""
    out: dict[str, list[str]] = {}
    for key, messages in fields.items():
        prefix, rest = key, ""
        while prefix not in paths and "." in prefix:
            prefix, _, tail = prefix.rpartition(".")
            rest = f"{tail}.{rest}" if rest else tail
        nid = paths.get(prefix, ROOT)
        out.setdefault(nid, []).extend(f"{rest}: {m}" if rest else m for m in messages)
    return out
