"""Writes of profiles: create (through identity resolution), update, soft delete, owner, company accounts and
their contacts, identities.

Every service checks its permission again (the edge checks first), finds the profile through the actor's scope
(another organisation's or an out-of-scope profile is not found), validates everything before the first write
(so a 422 changes nothing), audits in the same transaction and keeps the name search index in step. Services
never commit: the edge owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from siyu.iam.fieldsec import ensure_writable
from siyu.iam.models import Membership
from siyu.kernel import auditing, clock
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.platform.selectors import object_meta
from siyu.platform.services import audit_view, clean_values, merge_values

from . import lifecycle, search
from . import tags as tag_module
from .changes import batched, profiles_changed
from .identifiers import Identifier, normalise
from .models import Identity, LifecycleStageDefinition, Profile, ProfileKind, ProfileStatus, Tag
from .presenters import masked_identity
from .resolution import find_profiles, resolve_profile
from .rules import rule_for
from .timeline import TimelineKind, add_entry, register_kind

OBJECT = "cdp.profile"
AUDITED = ["kind", "name", "gender", "birthday", "province", "city", "source", "channel", "owner_id",
           "department_id", "account_id", "lifecycle_stage", "status"]
TEXT_LIMITS = {"name": 200, "province": 40, "city": 40, "source": 60, "channel": 120}
GENDERS = {"", "male", "female", "unknown"}

for _k in (
    TimelineKind("profile.created", "Profile created", "bi-person-plus", lambda d: d.get("source", "")),
    TimelineKind("profile.updated", "Profile updated", "bi-pencil", lambda d: ", ".join(d.get("fields", []))),
    TimelineKind("owner.changed", "Owner changed", "bi-person-check", lambda d: d.get("owner", "")),
    TimelineKind("identity.added", "Identifier added", "bi-fingerprint", lambda d: d.get("identity", "")),
    TimelineKind("identity.removed", "Identifier removed", "bi-fingerprint", lambda d: d.get("identity", "")),
    TimelineKind("profile.unmerged", "Merge undone", "bi-arrows-angle-expand", lambda d: f"#{d.get('merged', '')}"),
):
    register_kind(_k)


@dataclass
class Written:
    """The outcome of a create: the profile, whether it is new, and what resolution did on the way."""

    profile: Profile
    created: bool
    merged_ids: list[int] = field(default_factory=list)
    review_id: int | None = None


def require(actor: Actor, operation: str) -> None:
    """Services check the permission again, so no caller can skip the edge's check."""
    if not actor.can(operation):
        raise PermissionDenied(f"missing permission {operation}", code="permission_denied")


def visible_profile(actor: Actor, profile_id: Any, *, active: bool = True) -> Profile:
    """A profile the actor may see (deleted ones are gone); with ``active``, one that may still be written."""
    try:
        pk = int(profile_id)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    profile = Profile.objects.visible_to(actor).exclude(status=ProfileStatus.DELETED).filter(pk=pk).first()
    if profile is None:
        raise NotFound("not found")
    if active and profile.status == ProfileStatus.MERGED:
        raise Conflict(f"this profile was merged into #{profile.merged_into_id}", code="profile_merged",
                       fields={"merged_into_id": [str(profile.merged_into_id)]})
    return profile


def _text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed("bad value", fields={name: ["must be text"]})
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > limit or any(unicodedata.category(c) == "Cc" for c in text):
        raise ValidationFailed("bad value", fields={name: [f"at most {limit} printable characters"]})
    return text


def clean_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The standard fields of a write, validated (every bad field named at once)."""
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        try:
            if name in TEXT_LIMITS:
                out[name] = _text(value, name, TEXT_LIMITS[name])
            elif name == "kind":
                if value not in ProfileKind.values:
                    raise ValidationFailed("bad kind", fields={name: [f"one of {', '.join(ProfileKind.values)}"]})
                out[name] = value
            elif name == "gender":
                if (value or "") not in GENDERS:
                    raise ValidationFailed("bad gender", fields={name: ["male, female, unknown or empty"]})
                out[name] = value or ""
            elif name == "birthday":
                out[name] = _birthday(value)
            else:
                raise ValidationFailed("unknown field", fields={name: ["unknown field"]})
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed("some fields are not valid", fields=errors)
    return out


def _birthday(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value))
        except ValueError:
            raise ValidationFailed("bad date", fields={"birthday": ["a date (YYYY-MM-DD)"]}) from None
    if day > clock.now().date() or day.year < 1900:
        raise ValidationFailed("bad date", fields={"birthday": ["between 1900 and today"]})
    return day


def check_stage(actor: Actor, stage: Any) -> str:
    """A stage key of the organisation (the default stages are created on first use)."""
    lifecycle.ensure_default_stages(actor=actor)
    if not isinstance(stage, str) or not LifecycleStageDefinition.objects.in_org(actor).filter(key=stage).exists():
        raise ValidationFailed("unknown stage", fields={"lifecycle_stage": [f"no stage {str(stage)[:40]!r}"]})
    return stage


def _custom(actor: Actor, data: Any, *, partial: bool) -> dict[str, Any]:
    return clean_values(actor, object_meta(actor, OBJECT), data or {}, partial=partial)


def _audit(actor: Actor, action: str, profile: Profile, before: dict, before_custom: dict | None = None,
           **meta: Any) -> None:
    changes = auditing.diff(before, auditing.snapshot(profile, AUDITED))
    if before_custom is not None:
        m = object_meta(actor, OBJECT)
        b, personal = audit_view(m, before_custom)
        a, _ = audit_view(m, profile.custom)
        changes.update({f"custom.{k}": v for k, v in auditing.diff(b, a, personal=personal).items()})
    if changes or action != "update":
        auditing.record_write(actor, action, OBJECT, profile.pk, changes, **meta)


def _account(actor: Actor, account_id: Any, profile: Profile | None = None) -> Profile | None:
    if account_id in (None, ""):
        return None
    try:
        account = visible_profile(actor, account_id)
    except (NotFound, Conflict):
        raise ValidationFailed("no such account", fields={"account_id": ["no such company account"]}) from None
    if account.kind != ProfileKind.COMPANY:
        raise ValidationFailed("not an account", fields={"account_id": ["must be a company profile"]})
    if profile is not None and (profile.pk == account.pk or profile.kind == ProfileKind.COMPANY):
        raise ValidationFailed("bad account", fields={"account_id": ["only people are contacts of an account"]})
    return account


def _member(actor: Actor, user_id: Any) -> Membership | None:
    """The active membership of ``user_id`` in the actor's organisation (None clears the owner)."""
    if user_id in (None, ""):
        return None
    try:
        pk = int(user_id)
    except (TypeError, ValueError):
        raise ValidationFailed("bad owner", fields={"owner_id": ["a user id"]}) from None
    member = Membership.objects.in_org(actor).filter(user_id=pk, is_active=True).first()
    if member is None:
        raise ValidationFailed("no such owner", fields={"owner_id": ["no active member of this organisation"]})
    return member


def _identifiers(raw: list[Mapping[str, Any]] | None) -> list[Identifier]:
    out, errors = [], {}
    for n, item in enumerate(raw or []):
        try:
            out.append(normalise(item.get("type", ""), item.get("value"), item.get("namespace") or ""))
        except ValidationFailed as exc:
            errors.update({f"identifiers.{n}.{k}": v for k, v in exc.fields.items()})
    if errors:
        raise ValidationFailed("some identifiers are not valid", fields=errors)
    return out


# --- create ------------------------------------------------------------------------------------------------


def create_profile(
    *, actor: Actor, data: Mapping[str, Any], identifiers: list[Mapping[str, Any]] | None = None,
    custom: Mapping[str, Any] | None = None, owner_id: Any = None, account_id: Any = None,
    lifecycle_stage: str = "", source: str = "api",
) -> Written:
    """Create a person or company, or find the one its identifiers already belong to.

    Identifiers go through identity resolution: a phone, email or id that exists returns that profile
    (``created`` False), filling only its empty fields; profiles they join may be merged or queued for review
    as the rules say. An identifier of a profile the actor may not see is a 409 and nothing changes. Without
    ``owner_id`` a person's new profile is owned by the actor (and filed under the actor's department).
    """
    require(actor, "cdp.profile.create")
    fields = clean_fields({k: v for k, v in data.items() if v is not None})
    ensure_writable(actor, OBJECT, [*fields, *(["owner_id"] if owner_id is not None else []),
                                    *(["account_id"] if account_id is not None else []),
                                    *(["lifecycle_stage"] if lifecycle_stage else [])])
    cleaned_custom = _custom(actor, custom, partial=False)
    ids = _identifiers(identifiers)
    owner = _member(actor, owner_id) if owner_id is not None else None
    account = _account(actor, account_id)
    if account is not None and fields.get("kind") == ProfileKind.COMPANY:
        raise ValidationFailed("bad account", fields={"account_id": ["only people are contacts of an account"]})
    source = fields.pop("source", "") or _text(source, "source", 60) or "api"
    if lifecycle_stage:
        check_stage(actor, lifecycle_stage)
    if actor.sees_whole_org(Profile.scope_key):
        hidden = []  # nothing to hide from it: skip reading the holders twice (resolution reads them below)
    else:
        hidden = [p.pk for p in find_profiles(actor, ids).values()
                  if not Profile.objects.visible_to(actor).filter(pk=p.pk).exists()]
    if hidden:
        raise Conflict("an identifier belongs to a customer you cannot see", code="duplicate_out_of_scope")
    values = {**fields, "custom": merge_values({}, cleaned_custom)}
    if owner is not None:
        values.update(owner_id=owner.user_id, department_id=owner.department_id)
    elif actor.user_id and fields.get("kind", ProfileKind.PERSON) == ProfileKind.PERSON:
        values.update(owner_id=actor.user_id, department_id=actor.department_id)
    if account is not None:
        values["account_id"] = account.pk
    with transaction.atomic(), batched(actor.org_id, reason="profile") as changed:
        if ids:
            result = resolve_profile(actor=actor, identifiers=ids, source=source, defaults=values)
            written = Written(result.profile, result.created, result.merged_ids,
                              result.review.pk if result.review else None)
        else:
            now = clock.now()
            written = Written(Profile.objects.create(org_id=actor.org_id, source=source, first_seen_at=now,
                                                     last_seen_at=now, **values), True)
        profile = written.profile
        if written.created:
            # resolution already audited the bare create; this entry carries the values it was created with
            _audit(actor, "update" if ids else "create", profile, {}, {}, source=source, via="create")
            add_entry(profile=profile, kind="profile.created", data={"source": source})
        else:
            _fill_blanks(actor, profile, values)
        if lifecycle_stage and not profile.lifecycle_stage:
            lifecycle.set_stage(actor=actor, profile=profile, stage=lifecycle_stage)
        search.index_profiles([profile])
        changed.ids |= {profile.pk, *written.merged_ids}
    return written


def _fill_blanks(actor: Actor, profile: Profile, values: dict[str, Any]) -> None:
    """A create that matched an existing profile only fills what it lacks (and restores a deleted one)."""
    before, before_custom = auditing.snapshot(profile, AUDITED), dict(profile.custom)
    for name, value in values.items():
        if name == "custom":
            profile.custom = {**value, **profile.custom}
        elif value not in (None, "") and getattr(profile, name) in (None, ""):
            setattr(profile, name, value)
    if profile.status == ProfileStatus.DELETED:
        profile.status = ProfileStatus.ACTIVE
    profile.last_seen_at = clock.now()
    profile.save()
    _audit(actor, "update", profile, before, before_custom, via="create")


# --- update, delete, owner ---------------------------------------------------------------------------------


def update_profile(
    *, actor: Actor, profile_id: Any, changes: Mapping[str, Any], custom: Mapping[str, Any] | None = None,
) -> Profile:
    """Partial update of standard fields (``owner_id``, ``account_id``, ``lifecycle_stage`` included) and custom
    fields. A hidden or read-only field, an unknown one or a bad value is a 422 and nothing changes."""
    require(actor, "cdp.profile.update")
    profile = visible_profile(actor, profile_id)
    changes = dict(changes)
    special = {k: changes.pop(k) for k in ("owner_id", "account_id", "lifecycle_stage") if k in changes}
    ensure_writable(actor, OBJECT, [*changes, *special])
    fields = clean_fields(changes)
    cleaned_custom = _custom(actor, custom, partial=True) if custom else {}
    owner = _member(actor, special["owner_id"]) if "owner_id" in special else None
    account = _account(actor, special["account_id"], profile) if "account_id" in special else None
    if special.get("lifecycle_stage"):
        check_stage(actor, special["lifecycle_stage"])
    elif "lifecycle_stage" in special:
        raise ValidationFailed("bad stage", fields={"lifecycle_stage": ["a stage cannot be cleared, only changed"]})
    if "kind" in fields and fields["kind"] != profile.kind:
        if fields["kind"] == ProfileKind.COMPANY and profile.account_id:
            raise ValidationFailed("bad kind", fields={"kind": ["a contact of an account cannot be a company"]})
        if fields["kind"] == ProfileKind.PERSON and profile.contacts.exists():
            raise ValidationFailed("bad kind", fields={"kind": ["an account with contacts stays a company"]})
    before, before_custom = auditing.snapshot(profile, AUDITED), dict(profile.custom)
    for name, value in fields.items():
        setattr(profile, name, value)
    if "owner_id" in special:
        profile.owner_id = owner.user_id if owner else None
        profile.department_id = owner.department_id if owner else None
    if "account_id" in special:
        profile.account_id = account.pk if account else None
    profile.custom = merge_values(profile.custom, cleaned_custom)
    profile.save()
    _audit(actor, "update", profile, before, before_custom)
    changed = sorted(set(fields) | set(special) | {f"custom.{k}" for k in cleaned_custom})
    if changed:
        add_entry(profile=profile, kind="profile.updated", data={"fields": changed})
    if "lifecycle_stage" in special and special["lifecycle_stage"]:
        lifecycle.set_stage(actor=actor, profile=profile, stage=special["lifecycle_stage"])
    if "name" in fields:
        search.index_profiles([profile])
    profiles_changed(actor.org_id, [profile.pk], reason="profile")
    return profile


def delete_profile(*, actor: Actor, profile_id: Any) -> Profile:
    """Soft delete: the profile disappears from lists, search and lookups, its data is kept (a create that
    matches one of its identifiers restores it)."""
    require(actor, "cdp.profile.delete")
    profile = visible_profile(actor, profile_id)
    if profile.contacts.filter(status=ProfileStatus.ACTIVE).exists():
        raise Conflict("this account still has contacts", code="account_has_contacts")
    before = auditing.snapshot(profile, AUDITED)
    profile.status = ProfileStatus.DELETED
    profile.save(update_fields=["status", "updated_at"])
    _audit(actor, "delete", profile, before)
    profiles_changed(actor.org_id, [profile.pk], reason="profile")
    return profile


def assign_owner(*, actor: Actor, profile_id: Any, owner_id: Any) -> Profile:
    """Give the profile an owner (an active member; ``None`` clears it). The profile follows the owner's
    department, which is what department data scopes see."""
    require(actor, "cdp.profile.update")
    profile = visible_profile(actor, profile_id)
    ensure_writable(actor, OBJECT, ["owner_id"])
    owner = _member(actor, owner_id)
    before = auditing.snapshot(profile, AUDITED)
    profile.owner_id = owner.user_id if owner else None
    profile.department_id = owner.department_id if owner else None
    profile.save(update_fields=["owner_id", "department_id", "updated_at"])
    _audit(actor, "update", profile, before)
    if before["owner_id"] != profile.owner_id:
        label = (owner.user.name or owner.user.email) if owner else ""
        add_entry(profile=profile, kind="owner.changed", data={"owner": label, "owner_id": profile.owner_id})
        profiles_changed(actor.org_id, [profile.pk], reason="profile")
    return profile


# --- identities --------------------------------------------------------------------------------------------


def add_identity(*, actor: Actor, profile_id: Any, type: str, value: Any, namespace: str = "",
                 source: str = "console") -> Identity:
    """Attach an identifier. Adding one the profile has is a no-op; one that belongs to another customer is a
    409 (merging goes through resolution or the review queue, never through this form)."""
    require(actor, "cdp.profile.update")
    profile = visible_profile(actor, profile_id)
    ensure_writable(actor, OBJECT, ["identities"])
    ident = normalise(type, value, namespace or "")
    existing = Identity.objects.in_org(actor).filter(type=ident.type, namespace=ident.namespace,
                                                     value_index=ident.index).first()
    if existing is not None:
        if existing.profile_id == profile.pk:
            return existing
        raise Conflict("this identifier belongs to another customer", code="identifier_taken",
                       fields={"value": ["belongs to another customer"]})
    if Identity.objects.filter(profile=profile, type=ident.type).count() >= rule_for(ident.type).max_per_profile:
        raise ValidationFailed("too many", fields={"type": [f"at most {rule_for(ident.type).max_per_profile} of "
                                                            f"this type on one profile"]})
    try:
        with transaction.atomic():  # a concurrent add of the same identifier is a 409, not a 500
            row = Identity.objects.create(org_id=actor.org_id, profile=profile, type=ident.type,
                                          namespace=ident.namespace, value=ident.encrypted(),
                                          value_index=ident.index, source=_text(source, "source", 60))
    except IntegrityError:
        raise Conflict("this identifier belongs to another customer", code="identifier_taken") from None
    profile.identity_count += 1
    profile.save(update_fields=["identity_count", "updated_at"])
    label = f"{ident.type}:{ident.masked()}"
    auditing.record_write(actor, "update", OBJECT, profile.pk, {"identities": [None, label]})
    add_entry(profile=profile, kind="identity.added", ref_type="cdp.identity", ref_id=str(row.pk),
              data={"identity": label})
    profiles_changed(actor.org_id, [profile.pk], reason="profile")
    return row


def remove_identity(*, actor: Actor, profile_id: Any, identity_id: Any) -> None:
    require(actor, "cdp.profile.update")
    profile = visible_profile(actor, profile_id)
    ensure_writable(actor, OBJECT, ["identities"])
    row = Identity.objects.filter(profile=profile, pk=_int(identity_id)).first()
    if row is None:
        raise NotFound("not found")
    label = f"{row.type}:{masked_identity(row)}"
    row.delete()
    profile.identity_count = max(0, profile.identity_count - 1)
    profile.save(update_fields=["identity_count", "updated_at"])
    auditing.record_write(actor, "update", OBJECT, profile.pk, {"identities": [label, None]})
    add_entry(profile=profile, kind="identity.removed", ref_type="cdp.identity", ref_id=str(identity_id),
              data={"identity": label})
    profiles_changed(actor.org_id, [profile.pk], reason="profile")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound("not found") from None


# --- tags on a profile ---------------------------------------------------------------------------------------


def tag_profile(*, actor: Actor, profile_id: Any, tags: list[tuple[str, str]], source: str = "manual") -> list:
    """Add tags named by (group, name), creating those that do not exist yet, which needs ``cdp.tag.manage``.
    Returns the tags that were new on the profile."""
    require(actor, "cdp.profile.update")
    profile = visible_profile(actor, profile_id)
    ensure_writable(actor, OBJECT, ["tags"])
    found = [ensure_tag(actor=actor, group=group, name=name) for group, name in tags]
    return tag_module.add_tags(actor=actor, profile=profile, tags=found, source=source)


def ensure_tag(*, actor: Actor, group: str, name: str) -> Tag:
    """The tag named (group, name); one that does not exist yet is created, which needs ``cdp.tag.manage``."""
    tag = Tag.objects.in_org(actor).filter(group__name=(group or "").strip(), name=(name or "").strip()).select_related(
        "group").first()
    if tag is None:
        require(actor, "cdp.tag.manage")
        tag = tag_module.get_or_create_tag(actor=actor, group=group, name=name)
        auditing.record_write(actor, "create", "cdp.tag", tag.pk, {"tag": [None, f"{tag.group.name}/{tag.name}"]})
    return tag


def untag_profile(*, actor: Actor, profile_id: Any, tag_id: Any) -> int:
    require(actor, "cdp.profile.update")
    profile = visible_profile(actor, profile_id)
    ensure_writable(actor, OBJECT, ["tags"])
    tag = Tag.objects.in_org(actor).filter(pk=_int(tag_id), profile_links__profile=profile).first()
    if tag is None:
        raise NotFound("not found")
    return tag_module.remove_tags(actor=actor, profile=profile, tags=[tag])
