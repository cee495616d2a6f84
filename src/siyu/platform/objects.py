"""Standard objects: built-in objects described in code with stable keys, so that lists, forms and filters are
rendered from the same metadata for standard and custom fields (Twenty's ``standardId``).

Contexts register theirs from their AppConfig (or the composition root does, when the context may not import
platform)::

    register_standard_object(key="iam.user", label="User", model=Membership, standard_fields=[...])

The model must be a ``TenantModel`` with a JSON column (``custom`` by default) that holds custom field values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .field_types.base import KEY_RE


@dataclass(frozen=True)
class StandardField:
    """A built-in field: read from ``attr`` (dotted attribute path), filtered and sorted through ``lookup``
    (an ORM path). Personal fields name their blind-index column in ``index_lookup`` and their crypto context."""

    key: str
    label: str
    type: str
    lookup: str = ""
    attr: str = ""
    sortable: bool = True
    filterable: bool = True
    index_lookup: str = ""
    crypto_context: str = ""
    options: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        return self.lookup or self.key

    @property
    def attribute(self) -> str:
        return self.attr or self.path.replace("__", ".")


@dataclass(frozen=True)
class StandardObject:
    key: str
    label: str
    model: Any
    standard_fields: tuple[StandardField, ...]
    custom_column: str = "custom"

    @property
    def scope_key(self) -> str:
        return getattr(self.model, "scope_key", None) or self.key


_registry: dict[str, StandardObject] = {}


def register_standard_object(
    *, key: str, label: str, model: Any, standard_fields: list[StandardField], custom_column: str = "custom"
) -> StandardObject:
    context, _, name = key.partition(".")
    if not (KEY_RE.match(context) and KEY_RE.match(name)) or context == "custom":
        raise ValueError(f"standard object keys are context.name, got {key!r}")
    obj = StandardObject(key, label, model, tuple(standard_fields), custom_column)
    _registry[key] = obj
    return obj


def standard_object(key: str) -> StandardObject | None:
    return _registry.get(key)


def standard_objects() -> list[StandardObject]:
    return sorted(_registry.values(), key=lambda o: o.key)


def _catalogue() -> None:  # pragma: no cover - never called: makemessages collects these for siyu/wiring.py
    from django.utils.translation import gettext_lazy as _

    _("Name"), _("Title"), _("Mobile"), _("Active"), _("Created"), _("User"), _("ID"), _("Email"), _("Department")
