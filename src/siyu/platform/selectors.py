"""Reads of metadata and records, already scoped to what the actor may see."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.utils.translation import gettext_lazy as _

from siyu.kernel.actor import Actor
from siyu.kernel.errors import NotFound

from . import meta_cache
from .field_types import registry
from .field_types.base import FieldSpec, FieldType
from .models import CustomRecord, FieldDefinition, ObjectDefinition
from .objects import StandardField, StandardObject, standard_object, standard_objects

CUSTOM_PREFIX = "custom."

# The built-in fields every custom object has (columns of CustomRecord).
RECORD_FIELDS: tuple[StandardField, ...] = (
    StandardField("id", _("ID"), "integer"),
    StandardField("owner_id", _("Owner"), "integer"),
    StandardField("department_id", _("Department"), "integer"),
    StandardField("created_at", _("Created"), "datetime"),
    StandardField("updated_at", _("Updated"), "datetime"),
)


@dataclass(frozen=True)
class ObjectMeta:
    """Everything needed to validate, filter, serialise and render one object's records."""

    definition: ObjectDefinition
    standard: StandardObject | None
    fields: tuple[FieldDefinition, ...]  # active custom fields in display order

    @property
    def key(self) -> str:
        return self.definition.key

    @property
    def model(self) -> Any:
        return self.standard.model if self.standard else CustomRecord

    @property
    def column(self) -> str:
        return self.standard.custom_column if self.standard else "data"

    @property
    def standard_fields(self) -> tuple[StandardField, ...]:
        return self.standard.standard_fields if self.standard else RECORD_FIELDS

    def spec(self, fd: FieldDefinition) -> FieldSpec:
        known, spec = self._specs.get(fd.pk, (None, None))
        # a definition object from elsewhere than ``fields`` (maybe being edited) gets a spec of its own
        return spec if known is fd else _custom_spec(self.key, fd)

    def standard_spec(self, sf: StandardField) -> FieldSpec:
        known, spec = self._standard_specs.get(sf.key, (None, None))
        return spec if known is sf else _standard_spec(self.key, sf)

    # Specs are built once per metadata: a 50-row page asked for ~1,000 of them, and the metadata itself is
    # memoised across requests (``meta_cache``), so they are built once per definition change.
    @cached_property
    def _specs(self) -> dict[int, tuple[FieldDefinition, FieldSpec]]:
        return {fd.pk: (fd, _custom_spec(self.key, fd)) for fd in self.fields}

    @cached_property
    def _standard_specs(self) -> dict[str, tuple[StandardField, FieldSpec]]:
        return {sf.key: (sf, _standard_spec(self.key, sf)) for sf in self.standard_fields}

    def custom_field(self, key: str) -> FieldDefinition | None:
        return next((f for f in self.fields if f.key == key), None)

    def standard_field(self, key: str) -> StandardField | None:
        return next((f for f in self.standard_fields if f.key == key), None)

    @staticmethod
    def type_of(type_key: str) -> FieldType:
        ft = registry.get(type_key)
        if ft is None:  # a definition of a type whose module was removed: fail loudly, not silently
            raise LookupError(f"unknown field type {type_key!r}")
        return ft


def _custom_spec(object_key: str, fd: FieldDefinition) -> FieldSpec:
    return FieldSpec(key=fd.key, type=fd.type, label=fd.label, options=fd.options, required=fd.required,
                     object_key=object_key)


def _standard_spec(object_key: str, sf: StandardField) -> FieldSpec:
    return FieldSpec(key=sf.key, type=sf.type, label=sf.label, options=sf.options or {}, object_key=object_key,
                     crypto=sf.crypto_context)


def standard_definition(actor: Actor, std: StandardObject) -> ObjectDefinition:
    """The organisation's row for a standard object, created on first use (idempotent bookkeeping, not audited:
    it only records that code-described object in this organisation so field definitions can point at it)."""
    existing = ObjectDefinition.objects.in_org(actor).filter(key=std.key).first()
    if existing:
        return existing
    obj, _ = ObjectDefinition.objects.in_org(actor).get_or_create(
        key=std.key,
        defaults={"org_id": actor.org_id, "label": std.label, "is_standard": True, "scope_key": std.scope_key},
    )
    return obj


def object_definition(actor: Actor, key: str) -> ObjectDefinition:
    std = standard_object(key)
    if std is not None:
        return standard_definition(actor, std)
    obj = ObjectDefinition.objects.in_org(actor).filter(key=key, archived_at__isnull=True, is_standard=False).first()
    if obj is None:
        raise NotFound("no such object")
    return obj


def object_meta(actor: Actor, key: str) -> ObjectMeta:
    """The object's definition and active custom fields, memoised per process under the organisation's
    generation token (``meta_cache``: one cache read instead of two queries)."""
    token = meta_cache.generation(actor.org_id)
    meta = meta_cache.get(actor.org_id, key, token)
    if meta is None:
        definition = object_definition(actor, key)
        fields = FieldDefinition.objects.in_org(actor).filter(object=definition, archived_at__isnull=True)
        meta = ObjectMeta(definition, standard_object(key), tuple(fields.order_by("order", "id")))
        meta_cache.put(actor.org_id, key, token, meta)
    return meta


def list_objects(actor: Actor) -> list[ObjectDefinition]:
    """Standard objects (materialised) then the organisation's custom objects."""
    out = [standard_definition(actor, std) for std in standard_objects()]
    custom = ObjectDefinition.objects.in_org(actor).filter(is_standard=False, archived_at__isnull=True)
    return out + list(custom.order_by("label", "id"))


def object_exists(actor: Actor, key: str) -> bool:
    if standard_object(key) is not None:
        return True
    return ObjectDefinition.objects.in_org(actor).filter(key=key, archived_at__isnull=True).exists()


def list_fields(actor: Actor, key: str, *, include_archived: bool = False) -> list[FieldDefinition]:
    """Field definitions; actors who cannot manage fields do not see those hidden from them."""
    definition = object_definition(actor, key)
    qs = FieldDefinition.objects.in_org(actor).filter(object=definition)
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    hidden = set() if actor.can("platform.field.manage") else actor.hidden_fields(key)
    return [f for f in qs.order_by("order", "id") if f.key not in hidden]


def records_visible_to(actor: Actor, meta: ObjectMeta):
    """Records of one object the actor may see.

    Roles give data scope per object key (``custom.project``), but ``kernel.tenancy`` reads the scope key from
    the model class, which all custom objects share. So the actor's scope for this object is handed to
    ``visible_to`` under the class key: one predicate, still written only in kernel.tenancy.
    """
    if meta.standard is not None:
        return meta.model.objects.visible_to(actor)
    scope = actor.scope_for(meta.definition.scope_key)
    scoped = dataclasses.replace(
        actor, scopes={CustomRecord.scope_key: scope} if scope else {}, default_scope=None,
    )
    return CustomRecord.objects.visible_to(scoped).filter(object=meta.definition)


def visible_record_ids(actor: Actor, object_key: str, ids: list[int]) -> set[int]:
    """The lookup resolver for custom objects and for standard objects registered with a model."""
    try:
        meta = object_meta(actor, object_key)
    except NotFound:
        return set()
    return set(records_visible_to(actor, meta).filter(pk__in=ids).values_list("pk", flat=True))


def custom_object_meta(actor: Actor, key: str) -> ObjectMeta:
    """Metadata of a custom object; standard objects' rows are not served as records here (their own context
    writes them), so they are not found."""
    meta = object_meta(actor, key)
    if meta.standard is not None:
        raise NotFound("no such custom object")
    return meta


def visible_record(actor: Actor, meta: ObjectMeta, record_id: int):
    record = records_visible_to(actor, meta).filter(pk=record_id).first()
    if record is None:
        raise NotFound("not found")
    return record
