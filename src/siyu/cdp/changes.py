"""Telling what is derived from profiles (segment membership) that some profiles changed — batched, durable,
off the request path.

Every write of profile data that a segment rule can read (fields, custom fields, identities, tags, consent,
lifecycle stage, merges, events) calls :func:`profiles_changed` in its transaction. Outside :func:`batched`
that emits one ``ProfilesChanged`` outbox message for the call; inside it (an ingest flush, an import chunk)
the ids are collected and emitted as **one** message when the block ends without an error, so a batch of a
thousand events or a chunk of five thousand rows costs one message, never one per event or row.

The outbox dispatcher then runs :func:`.handlers.refresh_segments`, which calls
``segments.membership.refresh_profiles`` for those ids. Why a message and not the call itself: the refresh
costs ~0.1–0.3 s per batch (an evaluation query per 25 segments), which the ingest transaction and a console
request should not pay, and the message commits with the change, so a refresh is never lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db import transaction

from siyu.kernel import events

from .events import ProfilesChanged


@dataclass
class _Bucket:
    org_id: int
    reason: str
    ids: set[int] = field(default_factory=set)


_bucket: ContextVar[_Bucket | None] = ContextVar("cdp_changed_profiles", default=None)


def profiles_changed(org_id: int, profile_ids: Iterable[int | None], *, reason: str) -> None:
    """Record that these profiles changed (inside the transaction of the change)."""
    ids = {int(i) for i in profile_ids if i}
    if not ids:
        return
    bucket = _bucket.get()
    if bucket is not None and bucket.org_id == org_id:
        bucket.ids |= ids
        return
    _emit(org_id, ids, reason)


def _emit(org_id: int, ids: set[int], reason: str) -> None:
    event = ProfilesChanged(org_id=org_id, profile_ids=sorted(ids), reason=reason)
    if transaction.get_connection().in_atomic_block:
        events.emit(event)  # commits or rolls back with the change
        return
    with transaction.atomic():  # a caller in autocommit mode: its write is committed already; follow it at once
        events.emit(event)


@contextmanager
def batched(org_id: int, *, reason: str) -> Iterator[_Bucket]:
    """Collect the changes of the block (and add more through the yielded bucket's ``ids``); emit them as one
    message at its end — or, inside an enclosing block of the same organisation (a sync page calling
    ``create_profile`` per contact), hand them to it, so the outer block still costs one message. Nothing is
    emitted when the block raises: its transaction is rolled back anyway."""
    bucket = _Bucket(org_id, reason)
    token = _bucket.set(bucket)
    try:
        yield bucket
    finally:
        _bucket.reset(token)
    profiles_changed(org_id, bucket.ids, reason=reason)
