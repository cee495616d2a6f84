"""Writes of metadata and custom values. Services never commit: the edge owns the transaction. Every write is
audited in the same transaction; index DDL for ``indexed`` fields runs after commit (see indexes.py)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from siyu.kernel import auditing, clock
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from . import indexes, meta_cache
from .field_types import registry
from .field_types.base import KEY_RE, CleanContext, FieldError, FieldType
from .models import CustomRecord, FieldDefinition, ObjectDefinition
from .objects import standard_object
from .selectors import (
    CUSTOM_PREFIX,
    ObjectMeta,
    custom_object_meta,
    object_definition,
    object_meta,
    visible_record,
)

FIELD_AUDIT = ["key", "label", "type", "options", "required", "indexed", "order", "archived_at"]
MAX_FIELDS_PER_OBJECT = 200
MAX_LABEL = 120
_UNSET: Any = object()


def _require(actor: Actor, operation: str) -> None:
    # The edge checks too; services check again so no other caller can skip it.
    if not actor.can(operation):
        raise PermissionDenied(f"missing permission {operation}", code="permission_denied")


def _label(label: Any, name: str = "label") -> str:
    if not isinstance(label, str) or not label.strip() or len(label.strip()) > MAX_LABEL:
        raise ValidationFailed("bad label", fields={name: [f"1 to {MAX_LABEL} characters"]})
    return label.strip()


# --- objects -------------------------------------------------------------------------------------------------

def create_object(*, actor: Actor, key: str, label: str) -> ObjectDefinition:
    """A custom object ``custom.<key>``; its records are data-scoped by roles under that same key."""
    _require(actor, "platform.object.manage")
    name = key[len(CUSTOM_PREFIX):] if key.startswith(CUSTOM_PREFIX) else key
    if not KEY_RE.match(name):
        raise ValidationFailed("bad key", fields={"key": ["lower-case letters, digits and _, starting with a letter"]})
    full = CUSTOM_PREFIX + name
    label = _label(label)
    if ObjectDefinition.objects.in_org(actor).filter(key=full).exists():
        raise Conflict("key taken", fields={"key": ["an object with this key exists (keys are never reused)"]})
    try:
        with transaction.atomic():  # a savepoint: a concurrent create of the same key is a 409, not a 500
            obj = ObjectDefinition.objects.create(org_id=actor.org_id, key=full, label=label, is_standard=False,
                                                  scope_key=full)
    except IntegrityError as exc:
        raise Conflict("key taken", fields={"key": ["an object with this key exists"]}) from exc
    meta_cache.changed(actor.org_id)
    auditing.record_write(actor, "create", "platform.object", obj.pk,
                          auditing.diff({}, {"key": full, "label": label}))
    return obj


# --- field definitions ---------------------------------------------------------------------------------------

def _type(type_key: Any) -> FieldType:
    ft = registry.get(type_key) if isinstance(type_key, str) else None
    if ft is None:
        known = ", ".join(t.key for t in registry.all_types())
        raise ValidationFailed("bad type", fields={"type": [f"one of: {known}"]})
    return ft


def _options(actor: Actor, ft: FieldType, options: Any) -> dict[str, Any]:
    if not isinstance(options, dict):
        raise ValidationFailed("bad options", fields={"options": ["an object"]})
    try:
        return ft.clean_options(options, ctx=CleanContext(actor))
    except FieldError as exc:
        raise ValidationFailed("bad options", fields={"options": [str(exc)]}) from exc


def _indexed(ft: FieldType, indexed: bool) -> bool:
    if indexed and not ft.indexable:
        raise ValidationFailed("not indexable", fields={"indexed": [f"{ft.key} fields cannot be indexed"]})
    return bool(indexed)


def _field(actor: Actor, object_key: str, field_key: str) -> tuple[ObjectDefinition, FieldDefinition]:
    definition = object_definition(actor, object_key)
    fd = FieldDefinition.objects.in_org(actor).filter(object=definition, key=field_key,
                                                      archived_at__isnull=True).first()
    if fd is None:
        raise NotFound("no such field")
    return definition, fd


def create_field(
    *, actor: Actor, object_key: str, key: str, label: str, type: str, options: dict[str, Any] | None = None,
    required: bool = False, indexed: bool = False, order: int = 0,
) -> FieldDefinition:
    """Add a custom field to a standard or custom object: no migration, values go to the object's JSON column."""
    _require(actor, "platform.field.manage")
    definition = object_definition(actor, object_key)
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ValidationFailed("bad key", fields={"key": ["lower-case letters, digits and _, starting with a letter "
                                                          "(at most 40)"]})
    std = standard_object(object_key)
    standard_keys = {f.key for f in std.standard_fields} if std else {"id", "owner_id", "department_id",
                                                                       "created_at", "updated_at"}
    if key in standard_keys:
        raise Conflict("key taken", fields={"key": ["a standard field has this key"]})
    siblings = FieldDefinition.objects.in_org(actor).filter(object=definition)
    if siblings.filter(key=key).exists():
        raise Conflict("key taken", fields={"key": ["a field with this key exists or existed (keys are never reused)"]})
    if siblings.filter(archived_at__isnull=True).count() >= MAX_FIELDS_PER_OBJECT:
        raise ValidationFailed("too many fields", fields={"key": [f"at most {MAX_FIELDS_PER_OBJECT} fields"]})
    ft = _type(type)
    values = {"label": _label(label), "type": ft.key, "options": _options(actor, ft, options or {}),
              "required": bool(required), "indexed": _indexed(ft, indexed), "order": int(order)}
    try:
        with transaction.atomic():  # a savepoint: a concurrent create of the same key is a 409, not a 500
            fd = FieldDefinition.objects.create(org_id=actor.org_id, object=definition, key=key, **values)
    except IntegrityError as exc:
        raise Conflict("key taken", fields={"key": ["a field with this key exists"]}) from exc
    meta_cache.changed(actor.org_id)
    auditing.record_write(actor, "create", "platform.field", fd.pk,
                          auditing.diff({}, auditing.snapshot(fd, FIELD_AUDIT)), object=object_key)
    if fd.indexed:
        indexes.create_on_commit(fd, definition)
    return fd


def update_field(
    *, actor: Actor, object_key: str, field_key: str, label: Any = _UNSET, type: Any = _UNSET,
    options: Any = _UNSET, required: Any = _UNSET, indexed: Any = _UNSET, order: Any = _UNSET,
) -> FieldDefinition:
    """Change a field. The key never changes; the type only to one whose values the stored ones already are
    (``compatible_from``); options that fix the stored form (``immutable_options``) stay as they are."""
    _require(actor, "platform.field.manage")
    definition, fd = _field(actor, object_key, field_key)
    before = auditing.snapshot(fd, FIELD_AUDIT)
    was_indexed = fd.indexed
    ft = registry.get(fd.type)
    if type is not _UNSET and type != fd.type:
        new = _type(type)
        if fd.type not in new.compatible_from:
            raise ValidationFailed("incompatible type", fields={"type": [
                f"cannot change {fd.type} to {new.key}: stored values would not be valid"]})
        ft, fd.type = new, new.key
        if options is _UNSET:
            options = {k: v for k, v in fd.options.items() if k in {i.name for i in new.option_inputs()}}
    if options is not _UNSET:
        cleaned = _options(actor, ft, options)
        for name in ft.immutable_options:
            if name in fd.options and cleaned.get(name) != fd.options.get(name):
                raise ValidationFailed("immutable option", fields={"options": [f"{name} cannot change"]})
        fd.options = cleaned
    if label is not _UNSET:
        fd.label = _label(label)
    if required is not _UNSET:
        fd.required = bool(required)
    if order is not _UNSET:
        fd.order = int(order)
    if indexed is not _UNSET:
        fd.indexed = _indexed(ft, indexed)
    elif fd.indexed and not ft.indexable:
        fd.indexed = False
    fd.save()
    meta_cache.changed(actor.org_id)
    after = auditing.snapshot(fd, FIELD_AUDIT)
    auditing.record_write(actor, "update", "platform.field", fd.pk, auditing.diff(before, after), object=object_key)
    if fd.indexed and not was_indexed:
        indexes.create_on_commit(fd, definition)
    elif was_indexed and not fd.indexed:
        indexes.drop_on_commit(fd, definition)
    return fd


def archive_field(*, actor: Actor, object_key: str, field_key: str) -> FieldDefinition:
    """Delete = archive: the definition stops being shown and validated, stored values stay (and come back
    into view if it is ever restored); its key is never reused; its index is dropped."""
    _require(actor, "platform.field.manage")
    definition, fd = _field(actor, object_key, field_key)
    before = auditing.snapshot(fd, FIELD_AUDIT)
    fd.archived_at = clock.now()
    was_indexed, fd.indexed = fd.indexed, False
    fd.save(update_fields=["archived_at", "indexed", "updated_at"])
    meta_cache.changed(actor.org_id)
    auditing.record_write(actor, "delete", "platform.field", fd.pk,
                          auditing.diff(before, auditing.snapshot(fd, FIELD_AUDIT)), object=object_key)
    if was_indexed:
        indexes.drop_on_commit(fd, definition)
    return fd


# --- custom values -------------------------------------------------------------------------------------------

def clean_values(actor: Actor, meta: ObjectMeta, data: Any, *, partial: bool) -> dict[str, Any]:
    """``data`` -> stored forms, ``None`` for a value being cleared. Raises ValidationFailed naming every bad field;
    writing a hidden or read-only field is refused (field security applies to writes, not only reads)."""
    if not isinstance(data, dict):
        raise ValidationFailed("bad data", fields={"data": ["an object of field keys to values"]})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    locked = actor.read_only_fields(meta.key)
    ctx = CleanContext(actor)
    for key, value in data.items():
        fd = meta.custom_field(key) if isinstance(key, str) else None
        if fd is None:
            errors[str(key)[:60]] = ["unknown field"]
            continue
        if key in locked:
            errors[key] = ["read-only for you"]
            continue
        if value is None or value == "" or value == []:
            if fd.required:
                errors[key] = ["required"]
            cleaned[key] = None
            continue
        try:
            cleaned[key] = meta.type_of(fd.type).clean(value, meta.spec(fd), ctx)
        except FieldError as exc:
            errors[key] = [str(exc)]
    if not partial:
        for fd in meta.fields:
            if fd.required and fd.key not in data and fd.key not in errors:
                errors[fd.key] = ["required"]
    if errors:
        raise ValidationFailed("some fields are not valid", fields=errors)
    return cleaned


def validate_custom(*, actor: Actor, object_key: str, data: Any, partial: bool = False) -> dict[str, Any]:
    """The one validation of custom values, for every write to any object (standard or custom).

    Returns the cleaned JSON to store (with ``partial=True``: only the given keys, ``None`` meaning "clear");
    merge it into the stored JSON with :func:`merge_values`."""
    return clean_values(actor, object_meta(actor, object_key), data, partial=partial)


def merge_values(current: dict[str, Any], cleaned: dict[str, Any]) -> dict[str, Any]:
    out = dict(current or {})
    for key, value in cleaned.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def audit_view(meta: ObjectMeta, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Values as the audit log should compare them, and the personal ones it must mask."""
    view, personal = {}, {}
    for key, stored in (data or {}).items():
        fd = meta.custom_field(key)
        if fd is None:
            view[key] = stored
            continue
        ft = meta.type_of(fd.type)
        view[key] = ft.audit_value(stored, meta.spec(fd))
        if ft.mask_kind:
            personal[key] = ft.mask_kind
    return view, personal


def set_custom_values(*, actor: Actor, object_key: str, instance: Any, data: Any) -> dict[str, Any]:
    """Validate and store custom values on a standard object's row (partial), audited as an update of it.
    The caller has already checked the record is visible and the update permission."""
    meta = object_meta(actor, object_key)
    if meta.standard is None:
        raise NotFound("no such object")
    cleaned = clean_values(actor, meta, data, partial=True)
    column = meta.column
    before = getattr(instance, column) or {}
    after = merge_values(before, cleaned)
    setattr(instance, column, after)
    instance.save(update_fields=[column, "updated_at"])
    b, personal = audit_view(meta, before)
    a, _ = audit_view(meta, after)
    auditing.record_write(actor, "update", object_key, instance.pk,
                          {f"{column}.{k}": v for k, v in auditing.diff(b, a, personal=personal).items()})
    return after


# --- custom object records -----------------------------------------------------------------------------------

def create_record(*, actor: Actor, object_key: str, data: Any) -> CustomRecord:
    """A record of a custom object, owned by the actor and filed under the actor's department (data scope)."""
    _require(actor, "platform.record.create")
    meta = custom_object_meta(actor, object_key)
    values = merge_values({}, clean_values(actor, meta, data, partial=False))
    record = CustomRecord.objects.create(org_id=actor.org_id, object=meta.definition, owner_id=actor.user_id,
                                         department_id=actor.department_id, data=values)
    view, personal = audit_view(meta, values)
    auditing.record_write(actor, "create", object_key, record.pk, auditing.diff({}, view, personal=personal))
    return record


def update_record(*, actor: Actor, object_key: str, record_id: int, data: Any) -> CustomRecord:
    """Partial update of a record's values; out-of-scope records are not found; nothing changes on any error."""
    _require(actor, "platform.record.update")
    meta = custom_object_meta(actor, object_key)
    record = visible_record(actor, meta, record_id)
    cleaned = clean_values(actor, meta, data, partial=True)
    before = record.data
    record.data = merge_values(before, cleaned)
    record.save(update_fields=["data", "updated_at"])
    b, personal = audit_view(meta, before)
    a, _ = audit_view(meta, record.data)
    auditing.record_write(actor, "update", object_key, record.pk, auditing.diff(b, a, personal=personal))
    return record


def delete_record(*, actor: Actor, object_key: str, record_id: int) -> None:
    _require(actor, "platform.record.delete")
    meta = custom_object_meta(actor, object_key)
    record = visible_record(actor, meta, record_id)
    view, personal = audit_view(meta, record.data)
    pk = record.pk
    record.delete()
    auditing.record_write(actor, "delete", object_key, pk, auditing.diff(view, {}, personal=personal))


def unmask_record(*, actor: Actor, object_key: str, record_id: int) -> CustomRecord:
    """Permission to see personal values in clear, checked and audited per record shown."""
    _require(actor, "platform.record.unmask")
    meta = custom_object_meta(actor, object_key)
    record = visible_record(actor, meta, record_id)
    personal = [f.key for f in meta.fields if meta.type_of(f.type).mask_kind and f.key in record.data]
    auditing.record(auditing.AuditEntry(
        org_id=actor.org_id, action="unmask", object_type=object_key, object_id=str(record.pk),
        actor_user_id=actor.user_id, actor_api_key_id=actor.api_key_id, actor_label=actor.label,
        meta={"fields": personal},
    ))
    return record
