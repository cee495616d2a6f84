"""Registry of named operations (``context.object.action``).

Each context declares its operations in its own ``permissions.py`` by calling :func:`declare`; iam reads the
registry to build roles and the console's permission matrix. Kernel owns the registry so that no context
has to import iam to declare what it offers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^[a-z_]+\.[a-z_]+\.[a-z_]+$")


@dataclass(frozen=True)
class Operation:
    name: str
    label: str  # English source string; translated where it is shown

    @property
    def object_key(self) -> str:
        return self.name.rsplit(".", 1)[0]


_registry: dict[str, Operation] = {}


def declare(*ops: tuple[str, str]) -> None:
    for name, label in ops:
        if not _NAME.match(name):
            raise ValueError(f"operation names are context.object.action, got {name!r}")
        _registry[name] = Operation(name, label)


def all_operations() -> list[Operation]:
    return sorted(_registry.values(), key=lambda o: o.name)


def is_declared(name: str) -> bool:
    return name in _registry


def matches(granted: str, wanted: str) -> bool:
    """A grant may be exact or a wildcard prefix (``cdp.*``, ``cdp.profile.*``, ``*``)."""
    if granted == "*" or granted == wanted:
        return True
    return granted.endswith(".*") and wanted.startswith(granted[:-1])
