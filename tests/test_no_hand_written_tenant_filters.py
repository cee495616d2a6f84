"""Row scope lives in one place: nothing outside ``kernel/tenancy.py`` filters by organisation by hand.

A hand-written ``.filter(org_id=…)`` is the one that gets forgotten somewhere and leaks another company's
customers; code asks the tenancy layer instead (``Model.objects.visible_to(actor)`` / ``.in_org(actor)``).
The scan reads the syntax tree (not text), so formatting and comments cannot hide or fake a call.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "siyu"
LOOKUPS = {"filter", "get", "exclude"}  # queryset reads that take field lookups
Q_NAMES = {"Q"}  # Q(org_id=…) is the same hand-written filter, built first and applied later

# Places that legitimately choose an organisation before any actor exists, each with the reason.
# Keyed by (path under src/siyu, enclosing function), so moving code around does not silence the test.
ALLOWED = {
    # The person's own memberships decide which organisation the session acts in: there is no actor yet.
    ("iam/middleware.py", "current_membership"),
    ("iam/selectors.py", "memberships_of"),
    # The audit log's pre-organisation chain (failed logins of unknown emails) has no organisation an actor
    # could stand for; organisation chains go through in_org (see the method's docstring).
    ("audit/models.py", "chain"),
}
EXCLUDED = {"kernel/tenancy.py"}


def _is_org_lookup(name: str | None) -> bool:
    return name is not None and (name in {"org", "org_id"} or name.startswith(("org__", "org_id__")))


def _keyword_names(call: ast.Call) -> list[str]:
    names = [kw.arg for kw in call.keywords if kw.arg is not None]
    for kw in call.keywords:  # **{"org_id": …}
        if kw.arg is None and isinstance(kw.value, ast.Dict):
            names += [k.value for k in kw.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    return names


def _is_lookup_call(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr in LOOKUPS or func.attr in Q_NAMES
    return isinstance(func, ast.Name) and func.id in Q_NAMES


def _is_queryset_call(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and call.func.attr in LOOKUPS


def _functions_by_line(tree: ast.AST) -> dict[int, str]:
    enclosing: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if hasattr(inner, "lineno"):
                    # innermost wins: walk visits outer functions first, inner ones overwrite
                    enclosing[inner.lineno] = node.name
    return enclosing


def hand_written_tenant_filters(root: Path = SRC) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in EXCLUDED or "/migrations/" in f"/{rel}":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        enclosing = _functions_by_line(tree)
        for node in sorted(ast.walk(tree), key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0))):
            if not (isinstance(node, ast.Call) and _is_lookup_call(node)):
                continue
            function = enclosing.get(node.lineno)
            if function is None and not _is_queryset_call(node):
                continue  # Q() outside any function: a model's constraint or index condition, schema not a query
            bad = [n for n in _keyword_names(node) if _is_org_lookup(n)]
            if bad and (rel, function) not in ALLOWED:
                found.append(f"src/siyu/{rel}:{node.lineno}: {', '.join(bad)} in {function or '<module>'}")
    return found


def test_nothing_filters_by_organisation_by_hand():
    found = hand_written_tenant_filters()
    assert not found, "filter through Model.objects.visible_to(actor) / .in_org(actor) instead:\n" + "\n".join(found)


def test_the_scan_catches_every_spelling(tmp_path):
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "tenancy.py").write_text("X.objects.filter(org_id=1)\n")  # the one allowed home
    (tmp_path / "leaky.py").write_text(
        "from django.db.models import Q\n"
        "def a(o):\n"
        "    Lead.objects.filter(org=o)\n"
        "    Lead.objects.get(pk=1, org_id=o.pk)\n"
        "    Lead.objects.exclude(org__slug='x')\n"
        "    Lead.objects.filter(**{'org_id': 3})\n"
        "    Lead.objects.filter(Q(org_id=3) | Q(pk=1))\n"
        "    Lead.objects.filter(owner=o).order_by('org__name')\n"  # ordering is not filtering
        "    Lead.objects.in_org(o).filter(name='x')\n"
        "    Lead.objects.create(org=o)\n"  # writing a row's organisation is not a filter
        "class Meta:\n"
        "    constraints = [UniqueConstraint(fields=['seq'], condition=Q(org_id__isnull=True), name='x')]\n"
        "ROWS = Lead.objects.filter(org_id=1)\n"  # a query at module level is still a query
    )
    assert hand_written_tenant_filters(tmp_path) == [
        "src/siyu/leaky.py:3: org in a",
        "src/siyu/leaky.py:4: org_id in a",
        "src/siyu/leaky.py:5: org__slug in a",
        "src/siyu/leaky.py:6: org_id in a",
        "src/siyu/leaky.py:7: org_id in a",
        "src/siyu/leaky.py:13: org_id in <module>",
    ]
