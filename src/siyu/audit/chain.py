"""Hash chain: each entry's hash covers its canonical content and the previous entry's hash in the same
organisation, so an edited, deleted or reordered entry breaks every hash after it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

GENESIS = "0" * 64


def canonical(entry, *, seq: int | None = None) -> bytes:
    """The bytes the hash covers; ``seq`` overrides the entry's position (the verifier asks "does this entry
    belong somewhere else?" to tell a reordered entry from an edited one)."""
    # UTC with fixed precision: the same instant must give the same bytes whatever zone the driver returns
    at = entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    body = {
        "org_id": entry.org_id, "seq": entry.seq if seq is None else seq, "at": at, "action": entry.action,
        "object_type": entry.object_type, "object_id": entry.object_id, "actor_user_id": entry.actor_user_id,
        "actor_api_key_id": entry.actor_api_key_id, "actor_label": entry.actor_label, "changes": entry.changes,
        "ip": entry.ip, "meta": entry.meta, "prev_hash": entry.prev_hash,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def entry_hash(entry, *, seq: int | None = None) -> str:
    return hashlib.sha256(canonical(entry, seq=seq)).hexdigest()
