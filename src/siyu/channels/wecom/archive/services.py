"""Writes of the conversation archive: configure a corp's archive, sensitive-word rules, fetch now."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from siyu.channels.wecom.corps import corp_of
from siyu.kernel import encrypted
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import NotFound, PermissionDenied, ValidationFailed

from .models import ArchiveConfig, SensitiveWordRule

MANAGE = "channels.archive.manage"


def _require(actor: Actor, operation: str = MANAGE) -> None:
    if not actor.can(operation):
        raise PermissionDenied(f"this needs the {operation} permission")


def _int(data: Mapping[str, Any], field: str, low: int, high: int, errors: dict[str, list[str]]) -> int | None:
    try:
        value = int(str(data.get(field)).strip())
    except (TypeError, ValueError):
        value = None
    if value is None or not low <= value <= high:
        errors[field] = [f"a whole number from {low} to {high}"]
        return None
    return value


def _time(data: Mapping[str, Any], field: str, errors: dict[str, list[str]]) -> dt.time | None:
    try:
        return dt.time.fromisoformat(str(data.get(field) or "").strip())
    except ValueError:
        errors[field] = ["a time such as 09:00"]
        return None


def save_config(*, actor: Actor, corp_pk: Any, data: Mapping[str, Any]) -> ArchiveConfig:
    """Create or update a corp's archive settings. The secret is required the first time and kept when left
    empty later (secrets go in, never out)."""
    _require(actor)
    corp = corp_of(actor, corp_pk)
    config = ArchiveConfig.objects.in_org(actor).filter(corp=corp).first()
    errors: dict[str, list[str]] = {}
    retention = _int(data, "retention_days", 1, 3650, errors)
    timeout = _int(data, "reply_timeout_minutes", 1, 24 * 60, errors)
    start, end = _time(data, "work_start", errors), _time(data, "work_end", errors)
    if start and end and start >= end:
        errors["work_end"] = ["after the start of working hours"]
    days_raw = data.getlist("work_days") if hasattr(data, "getlist") else data.get("work_days") or []
    try:
        days = sorted({int(d) for d in days_raw})
    except (TypeError, ValueError):
        days = [0]
    if not days or any(d not in range(1, 8) for d in days):
        errors["work_days"] = ["one or more weekdays, 1 (Monday) to 7"]
    source = data.get("source") or ArchiveConfig.Source.SIMULATOR
    if source not in ArchiveConfig.Source.values:
        errors["source"] = [f"one of {', '.join(ArchiveConfig.Source.values)}"]
    secret = str(data.get("secret") or "").strip()
    if config is None and not secret:
        errors["secret"] = ["required: the conversation archive secret"]
    if len(secret) > 200:
        errors["secret"] = ["at most 200 characters"]
    if errors:
        raise ValidationFailed("the archive settings are not valid", fields=errors)
    creating = config is None
    config = config or ArchiveConfig(org_id=actor.org_id, corp=corp)
    before = {f: getattr(config, f) for f in ("retention_days", "reply_timeout_minutes", "source", "enabled")}
    config.retention_days, config.reply_timeout_minutes = retention, timeout
    config.work_start, config.work_end, config.work_days, config.source = start, end, days, source
    config.enabled = str(data.get("enabled", "on")).lower() in ("on", "true", "1", "yes")
    if secret:
        encrypted.set_encrypted(config, "secret", secret)
    private_key = str(data.get("private_key") or "").strip()
    if private_key:
        encrypted.set_encrypted(config, "private_key", private_key)
    config.save()
    changes = {f: [None if creating else before[f], getattr(config, f)] for f in before
               if creating or before[f] != getattr(config, f)}
    if secret:
        changes["secret"] = [None, "set"]
    record_write(actor, "create" if creating else "update", "channels.archive_config", config.pk, changes)
    return config


def config_of(actor: Actor, config_pk: Any) -> ArchiveConfig:
    try:
        pk = int(config_pk)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    found = ArchiveConfig.objects.in_org(actor).select_related("corp").filter(pk=pk).first()
    if found is None:
        raise NotFound("not found")
    return found


def add_word(*, actor: Actor, word: Any, applies_to: Any = "both") -> SensitiveWordRule:
    _require(actor)
    text = str(word or "").strip()
    errors: dict[str, list[str]] = {}
    if not text or len(text) > 50 or "\x00" in text:
        errors["word"] = ["required, at most 50 characters"]
    elif SensitiveWordRule.objects.in_org(actor).filter(word=text).exists():
        errors["word"] = ["already a rule"]
    if applies_to not in ("in", "out", "both"):
        errors["applies_to"] = ["in, out or both"]
    if errors:
        raise ValidationFailed("the rule is not valid", fields=errors)
    rule = SensitiveWordRule.objects.create(org_id=actor.org_id, word=text, applies_to=applies_to)
    record_write(actor, "create", "channels.archive_word", rule.pk, {"word": [None, text]})
    return rule


def delete_word(*, actor: Actor, rule_id: Any) -> None:
    _require(actor)
    try:
        rule = SensitiveWordRule.objects.in_org(actor).get(pk=int(rule_id))
    except (TypeError, ValueError, SensitiveWordRule.DoesNotExist):
        raise NotFound("not found") from None
    record_write(actor, "delete", "channels.archive_word", rule.pk, {"word": [rule.word, None]})
    rule.delete()
