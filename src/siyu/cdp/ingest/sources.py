"""Event sources and their write keys.

A write key is shown once when the source is created and stored only as a SHA-256 hash beside a short
public prefix (the lookup key). Lookups on the ingest path go through a small in-process cache, so a busy
source costs one hash and a dict hit per request; a deactivated source keeps working for at most
``CACHE_SECONDS`` in each web process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import NotFound, ValidationFailed

from ..models import Source
from ..profiles import require

PREFIX_CHARS = 16  # Source.key_prefix max_length
CACHE_SECONDS = 60.0
NEGATIVE_CACHE_SECONDS = 5.0
CACHE_MAX = 10_000


@dataclass(frozen=True)
class KnownSource:
    id: int
    org_id: int
    name: str


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


MANAGE = "cdp.source.manage"


def _new_key() -> tuple[str, str]:
    prefix = "wk" + secrets.token_hex((PREFIX_CHARS - 2) // 2)
    return prefix, prefix + secrets.token_urlsafe(24)


def create_source(*, actor: Actor, name: str) -> tuple[Source, str]:
    """Create a source and return it with its write key (the only time the key is available in clear)."""
    require(actor, MANAGE)
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed("invalid source name", fields={"name": ["1 to 120 characters"]})
    prefix, raw = _new_key()
    source = Source.objects.create(org_id=actor.org_id, name=name, key_prefix=prefix, key_hash=_hash(raw))
    record_write(actor, "create", "cdp.source", source.pk, {"name": [None, name], "key_prefix": [None, prefix]})
    return source, raw


def list_sources(*, actor: Actor) -> list[Source]:
    return list(Source.objects.in_org(actor).order_by("id"))


def _source(actor: Actor, source_id: object) -> Source:
    try:
        pk = int(source_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    source = Source.objects.in_org(actor).select_for_update().filter(pk=pk).first()
    if source is None:
        raise NotFound("not found")  # another organisation's source is not found either
    return source


def set_active(*, actor: Actor, source_id: object, active: bool) -> Source:
    """Disable (its key is refused within ``CACHE_SECONDS`` in every web process) or enable a source. Events
    already accepted are still processed."""
    require(actor, MANAGE)
    source = _source(actor, source_id)
    if source.is_active != active:
        source.is_active = active
        source.save(update_fields=["is_active", "updated_at"])
        record_write(actor, "update", "cdp.source", source.pk, {"is_active": [not active, active]})
        clear_cache()
    return source


def rotate_key(*, actor: Actor, source_id: object) -> tuple[Source, str]:
    """A new write key for the source (shown once); the old one stops working (within ``CACHE_SECONDS`` in
    other web processes). Its events, counts and name stay."""
    require(actor, MANAGE)
    source = _source(actor, source_id)
    before = source.key_prefix
    source.key_prefix, raw = _new_key()
    source.key_hash = _hash(raw)
    source.save(update_fields=["key_prefix", "key_hash", "updated_at"])
    record_write(actor, "update", "cdp.source", source.pk, {"key_prefix": [before, source.key_prefix]},
                 rotated=True)
    clear_cache()
    return source, raw


_cache: dict[str, tuple[KnownSource | None, float]] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def source_for_key(raw: str) -> KnownSource | None:
    """The active source whose write key is ``raw``, or None. Constant-time hash comparison."""
    if not raw or len(raw) < PREFIX_CHARS or len(raw) > 200:
        return None
    digest = _hash(raw)
    now = time.monotonic()
    hit = _cache.get(digest)
    if hit is not None and hit[1] > now:
        return hit[0]
    # Pre-actor lookup by the write key's public prefix (unique across organisations).
    row = (Source.objects.unscoped_all_orgs().filter(key_prefix=raw[:PREFIX_CHARS], is_active=True)
           .values("id", "org_id", "name", "key_hash").first())
    found = None
    if row is not None and hmac.compare_digest(row["key_hash"], digest):
        found = KnownSource(row["id"], row["org_id"], row["name"])
    with _lock:
        if len(_cache) >= CACHE_MAX:
            _cache.clear()
        _cache[digest] = (found, now + (CACHE_SECONDS if found else NEGATIVE_CACHE_SECONDS))
    return found
