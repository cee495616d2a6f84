"""Processing accepted batches off the request path: resolve profiles, write events, timeline and rollups.

Flow: the huey task ``"cdp.ingest.process"`` (nudged after a request commits, and run by a periodic tick as a
safety net) calls :func:`process_pending`, which claims unprocessed ``EventBatch`` rows with a lease
(:func:`kernel.leases.claim`, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and processes each batch in **one
transaction that also marks it processed**: a worker killed mid-batch leaves nothing behind and the batch is
claimed again when its lease runs out, so every accepted event is processed exactly once.

Per batch, events are taken in order:

1. identifiers are read from the event (:mod:`.traits`) and looked up for the whole batch in one query;
2. an event whose identifiers all belong to one known profile takes it (no lock, no write); any other event,
   and every identify and alias, goes through :func:`cdp.resolution.resolve_profile` (create, link, merge or
   queue for review, as the rules say); identify traits update the profile's columns and ``traits``;
3. at the end of the batch the events are written with their profile (COPY on PostgreSQL), named
   track/page/screen events get a timeline entry, and per-profile rollups are upserted incrementally
   (``count = count + excluded.count``, first/last by LEAST/GREATEST). Events of a profile merged earlier in the
   same batch are re-pointed to the survivor first: the merge recomputed both profiles' rollups from stored
   events, and the batch's deltas are added on top, so the result equals a full recompute.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL

from siyu.kernel import clock, leases
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import diff, record_write

from .. import search
from ..bulkload import copy_rows
from ..changes import batched
from ..identifiers import Identifier
from ..models import EventBatch, Profile, ProfileStatus
from ..resolution import BatchResolver
from ..resolution import identifier_key as _key
from .config import DEDUP_DAYS, setting
from .groups import GroupCall, link_accounts
from .traits import identifier, identifiers_of, profile_columns, without_identifiers

logger = logging.getLogger(__name__)

PROFILE_SOURCE = "events"
TIMELINE_TYPES = ("track", "page", "screen")  # named ones only: identify/group/alias would drown the timeline
TIMELINE_PROPERTIES_MAX = 2000  # bytes of properties copied onto a timeline entry
CLAIM_BATCHES = 10
RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock, serialisation failure
EVENT_COLUMNS = ["org_id", "profile_id", "source_id", "type", "name", "message_id", "anonymous_id", "user_id",
                 "properties", "context", "timestamp", "received_at"]
TIMELINE_COLUMNS = ["org_id", "profile_id", "kind", "at", "ref_type", "ref_id", "data", "created_at", "updated_at"]
PROFILE_FIELDS = ["name", "gender", "birthday", "province", "city"]




def event_name(event: dict) -> str:
    """The name rollups and the timeline use: a track's event, a page's or screen's name, else none."""
    kind = event["type"]
    if kind == "track":
        return event.get("event") or ""
    if kind in ("page", "screen"):
        return event.get("name") or ""
    return ""


@dataclass
class _Pending:
    profile_id: int
    event: dict
    at: dt.datetime
    source_id: int


@dataclass
class _Batch:
    actor: Actor
    source_id: int
    resolver: BatchResolver
    pending: list[_Pending] = field(default_factory=list)
    identifiers: list[list[Identifier]] = field(default_factory=list)  # per event, computed once
    renamed: dict[int, Profile] = field(default_factory=dict)  # identify traits changed the name: search rows
    groups: list[GroupCall] = field(default_factory=list)  # group calls, linked to accounts at the flush
    changed: set[int] = field(default_factory=set)  # profiles changed besides the events' own (accounts)

    @property
    def redirect(self) -> dict[int, int]:  # merged profile -> survivor
        return self.resolver.redirect

    def live(self, pid: int) -> int:
        return self.resolver.live(pid)


def _alias_candidates(event: dict) -> list[Identifier]:
    out = []
    for raw in (event["userId"], event["previousId"]):
        for type_ in ("user_id", "anonymous_id"):
            ident = identifier(type_, raw)
            if ident:
                out.append(ident)
    return out


def _prefetch(state: _Batch, events: list[dict]) -> None:
    """Look up every identifier of the batch at once; the resolution locks of the events that will need a
    resolution are taken together in one sorted order (resolving them one by one would take each event's locks
    in batch order, and two batches sharing identifiers could deadlock), and those identifiers read again."""
    state.identifiers = [_alias_candidates(e) if e["type"] == "alias" else identifiers_of(e) for e in events]
    state.resolver.prepare(state.identifiers, [e["type"] in ("identify", "alias") for e in events])


def _resolve(state: _Batch, ids: list[Identifier], at: dt.datetime) -> int:
    result = state.resolver.resolve(ids, at)
    if result.created:  # by resolve_profile: seen from the event's time, not the processing time
        Profile.objects.filter(pk=result.profile_id).update(first_seen_at=at, last_seen_at=at)
    return result.profile_id


def _alias(state: _Batch, event: dict, at: dt.datetime) -> int:
    """alias(previousId → userId): the previous id, as a user id if one is known, else as an anonymous id,
    is resolved together with the user id, so an anonymous-only profile folds into the known one and two
    known customers go to the review queue (the resolution rules; user_id is single-valued)."""
    user = identifier("user_id", event["userId"])
    prev_user = identifier("user_id", event["previousId"])
    prev = (prev_user if prev_user and _key(prev_user) in state.resolver.owner
            else identifier("anonymous_id", event["previousId"]))
    return _resolve(state, [i for i in (user, prev) if i], at)


def _apply_traits(state: _Batch, pid: int, traits: object) -> None:
    if not isinstance(traits, dict) or not traits:
        return
    new = state.resolver.pending(pid)  # created in this batch, not inserted yet: its columns are set in place
    profile = new or Profile.objects.get(pk=pid)
    columns, extra = profile_columns(traits)
    before = {f: getattr(profile, f) for f in PROFILE_FIELDS}
    before.update({f"traits.{k}": profile.traits.get(k) for k in extra})
    for name, value in columns.items():
        setattr(profile, name, value)
    profile.traits = {**(profile.traits or {}), **extra}
    after = {f: getattr(profile, f) for f in PROFILE_FIELDS}
    after.update({f"traits.{k}": v for k, v in extra.items()})
    changes = diff(before, after, personal={"name": "text", "birthday": "text"})
    if changes:
        if new is None:
            profile.save(update_fields=[*PROFILE_FIELDS, "traits", "updated_at"])
        if before["name"] != profile.name:
            state.renamed[pid] = profile
        record_write(state.actor, "update", "cdp.profile", profile.pk, changes, via="identify")


def _handle(state: _Batch, event: dict, ids: list[Identifier], source_id: int) -> None:
    kind = event["type"]
    at = dt.datetime.fromisoformat(event["timestamp"])
    if kind == "alias":
        pid = _alias(state, event, at)
    else:
        owners = state.resolver.known(ids)
        if kind == "identify" or None in owners or len(owners) != 1:
            pid = _resolve(state, ids, at)
            if kind == "identify":
                _apply_traits(state, pid, without_identifiers(event.get("traits")))
        else:
            pid = owners.pop()
    if kind == "group":
        traits = event.get("traits")
        state.groups.append(GroupCall(pid, event["groupId"], traits if isinstance(traits, dict) else {}, at))
    state.pending.append(_Pending(pid, event, at, source_id))


def _dt(value):
    return connection.ops.adapt_datetimefield_value(value)


def _repoint_merged(state: _Batch) -> None:
    """Lock the batch's profiles (in id order) and follow any merge committed since they were resolved."""
    ids = sorted({state.live(p.profile_id) for p in state.pending})
    if connection.vendor == "postgresql":  # one array parameter: a list of hundreds plans slowly
        rows = Profile.objects.filter(pk__in=RawSQL("SELECT unnest(%s::bigint[])", [ids])).select_for_update()
    else:
        rows = Profile.objects.filter(pk__in=ids)
    rows = rows.order_by("pk")
    for pk, status, into in rows.values_list("pk", "status", "merged_into_id"):
        if status == ProfileStatus.MERGED and into:
            target = into
            while True:  # a chain of merges: follow it to the live profile
                nxt = Profile.objects.filter(pk=target, status=ProfileStatus.MERGED).values_list(
                    "merged_into_id", flat=True).first()
                if not nxt:
                    break
                target = nxt
            state.redirect[pk] = target
    for p in state.pending:
        p.profile_id = state.live(p.profile_id)


def _event_row(state: _Batch, p: _Pending) -> tuple:
    e = p.event
    kind = e["type"]
    context = dict(e.get("context") or {})
    if isinstance(context.get("traits"), dict):
        context["traits"] = without_identifiers(context["traits"])
    if kind == "alias":
        props = {"previousId": e["previousId"]}
    elif kind == "group":
        props = {"groupId": e["groupId"], "traits": without_identifiers(e.get("traits"))}
    elif kind == "identify":
        props = {}
    else:
        props = e.get("properties") or {}
    return (state.actor.org_id, p.profile_id, p.source_id, kind, event_name(e), e["messageId"],
            e.get("anonymousId") or "", e.get("userId") or "", json.dumps(props, ensure_ascii=False),
            json.dumps(context, ensure_ascii=False), _dt(p.at), _dt(dt.datetime.fromisoformat(e["receivedAt"])))


def _flush(state: _Batch) -> None:
    state.resolver.flush()  # profiles created by the batch exist before anything refers to them
    if not state.pending:
        return
    _repoint_merged(state)
    copy_rows("cdp_event", EVENT_COLUMNS, (_event_row(state, p) for p in state.pending))
    _timeline(state)
    _rollups(state)
    _seen(state)
    if state.groups:
        linked = link_accounts(state.actor, state.groups, state.live)
        state.changed |= linked.changed
        state.renamed.update({a.pk: a for a in linked.renamed})


def _timeline(state: _Batch) -> None:
    rows = []
    now = _dt(clock.now())
    for p in state.pending:
        name = event_name(p.event)
        if p.event["type"] not in TIMELINE_TYPES or not name:
            continue
        data = {"name": name, "type": p.event["type"]}
        props = p.event.get("properties") or {}
        if props:
            text = json.dumps(props, ensure_ascii=False)
            if len(text) <= TIMELINE_PROPERTIES_MAX:
                data["properties"] = props
        rows.append((state.actor.org_id, p.profile_id, "event", _dt(p.at), "cdp.event", p.event["messageId"][:80],
                     json.dumps(data, ensure_ascii=False), now, now))
    if rows:  # the ORM's bulk_create costs more than the rest of the batch; the rows need no model logic
        copy_rows("cdp_timelineentry", TIMELINE_COLUMNS, rows)


def _functions() -> tuple[str, str]:
    return ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")


def _rows(types: list[str], rows: list[tuple]) -> tuple[str, list]:
    """A row source for many rows: on PostgreSQL ``unnest`` of one typed array per column (a handful of
    parameters whatever the row count: planning a VALUES list of thousands of parameters cost more than the
    upsert itself), on SQLite a VALUES list."""
    if connection.vendor == "postgresql":
        return ("SELECT * FROM unnest(" + ", ".join(f"%s::{t}[]" for t in types) + ")",  # noqa: S608 - our types
                [list(column) for column in zip(*rows, strict=True)])
    marks = "(" + ", ".join(["%s"] * len(types)) + ")"
    return "VALUES " + ", ".join([marks] * len(rows)), [v for row in rows for v in row]


def _rollups(state: _Batch) -> None:
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    totals: dict[tuple[int, str], list] = {}
    daily: dict[tuple[int, str, dt.date], int] = defaultdict(int)
    for p in state.pending:
        name = event_name(p.event)
        if not name:
            continue
        row = totals.setdefault((p.profile_id, name), [0, p.at, p.at])
        row[0] += 1
        row[1], row[2] = min(row[1], p.at), max(row[2], p.at)
        daily[(p.profile_id, name, p.at.astimezone(zone).date())] += 1
    if not totals:
        return
    org = state.actor.org_id
    lo, hi = _functions()
    # sorted: a stable order keeps concurrent upserts from deadlocking
    source, params = _rows(["bigint", "bigint", "text", "integer", "timestamptz", "timestamptz"], [
        (org, pid, name, totals[(pid, name)][0], _dt(totals[(pid, name)][1]), _dt(totals[(pid, name)][2]))
        for pid, name in sorted(totals)])
    daily_source, daily_params = _rows(["bigint", "bigint", "text", "date", "integer"], [
        (org, pid, name, connection.ops.adapt_datefield_value(day), daily[(pid, name, day)])
        for pid, name, day in sorted(daily)])
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO cdp_eventrollup (org_id, profile_id, name, count, first_at, last_at) "  # noqa: S608
            + source + " ON CONFLICT (profile_id, name) DO UPDATE SET "
            "count = cdp_eventrollup.count + excluded.count, "
            f"first_at = {lo}(cdp_eventrollup.first_at, excluded.first_at), "
            f"last_at = {hi}(cdp_eventrollup.last_at, excluded.last_at)",
            params,
        )
        cur.execute(
            "INSERT INTO cdp_eventdailyrollup (org_id, profile_id, name, day, count) "  # noqa: S608
            + daily_source + " ON CONFLICT (profile_id, name, day) DO UPDATE SET "
            "count = cdp_eventdailyrollup.count + excluded.count",
            daily_params,
        )


def _seen(state: _Batch) -> None:
    """first_seen_at / last_seen_at of every profile the batch touched, in one statement."""
    span: dict[int, list[dt.datetime]] = {}
    for p in state.pending:
        row = span.setdefault(p.profile_id, [p.at, p.at])
        row[0], row[1] = min(row[0], p.at), max(row[1], p.at)
    lo, hi = _functions()
    source, params = _rows(["bigint", "timestamptz", "timestamptz"],
                           [(pid, _dt(span[pid][0]), _dt(span[pid][1])) for pid in sorted(span)])
    with connection.cursor() as cur:
        cur.execute(
            f"WITH v(id, f, l) AS ({source}) UPDATE cdp_profile "  # noqa: S608 - placeholders only
            f"SET first_seen_at = {lo}(COALESCE(first_seen_at, v.f), v.f), "
            f"last_seen_at = {hi}(COALESCE(last_seen_at, v.l), v.l) FROM v WHERE cdp_profile.id = v.id",
            params,
        )


def process_events(*, org_id: int, source_id: int, events: list[dict], source_ids: list[int] | None = None) -> int:
    """Process events (of one batch, or of several batches of one organisation, ``source_ids`` then naming
    each event's source) inside the caller's transaction; returns how many were written."""
    actor = Actor.system(org_id, label="ingest")
    state = _Batch(actor, source_id, BatchResolver(actor, PROFILE_SOURCE))
    # one ProfilesChanged for the whole flush (merges inside it included): segment membership is refreshed
    # by the outbox dispatcher, not in this transaction
    with batched(org_id, reason="ingest") as changed:
        _prefetch(state, events)
        for i, event in enumerate(events):
            _handle(state, event, state.identifiers[i], source_ids[i] if source_ids else source_id)
        _flush(state)
        search.index_profiles(state.renamed.values())  # SQLite's FTS rows; one executemany for the batch
        changed.ids |= {p.profile_id for p in state.pending} | set(state.redirect) | state.changed
    return len(state.pending)


def _retryable(exc: Exception) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def process_batch(batch: EventBatch) -> int:
    """Process a claimed batch and mark it done in the same transaction; on failure leave it for a retry."""
    return process_batches([batch])


def process_batches(batches: list[EventBatch]) -> int:
    """Process claimed batches of one organisation together, in one transaction that also marks them done
    (one resolution pass, one write of events, timeline and rollups, one commit for all of them). If that
    fails, each batch is processed alone, so one bad batch only postpones itself."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                still = EventBatch.objects.filter(pk__in=[b.pk for b in batches], processed_at__isnull=True)
                if connection.vendor == "postgresql":
                    still = still.select_for_update().order_by("pk")
                open_ids = set(still.values_list("pk", flat=True))
                todo = [b for b in batches if b.pk in open_ids]
                if not todo:
                    return 0  # another worker finished them after our lease ran out
                events = [e for b in todo for e in b.payload]
                n = process_events(org_id=todo[0].org_id, source_id=todo[0].source_id, events=events,
                                   source_ids=[b.source_id for b in todo for _ in b.payload])
                EventBatch.objects.filter(pk__in=open_ids).update(processed_at=clock.now(), locked_until=None)
                return n
        except OperationalError as exc:
            if _retryable(exc) and attempt < 2:
                time.sleep(0.05 * (attempt + 1))
                continue
            return _alone(batches, exc)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the others; it is retried
            return _alone(batches, exc)
    return 0


def _alone(batches: list[EventBatch], exc: Exception) -> int:
    if len(batches) > 1:
        return sum(process_batches([b]) for b in batches)
    _postpone(batches[0], exc)
    return 0


def _postpone(batch: EventBatch, exc: Exception) -> None:
    logger.exception("event batch %s failed (attempt %s)", batch.pk, batch.attempts, exc_info=exc)
    EventBatch.objects.filter(pk=batch.pk).update(locked_until=clock.now() + leases.backoff(batch.attempts))


def process_pending(*, max_seconds: float = 30.0, linger_seconds: float | None = None,
                    limit: int = CLAIM_BATCHES) -> int:
    """Claim and process batches until none is left (after lingering ``linger_seconds`` for more) or
    ``max_seconds`` passed; returns the number of events processed."""
    linger = setting("SIYU_INGEST_LINGER_SECONDS") if linger_seconds is None else linger_seconds
    deadline = time.monotonic() + max_seconds
    idle_until = time.monotonic() + linger
    done = 0
    while time.monotonic() < deadline:
        batches = leases.claim(EventBatch, Q(processed_at__isnull=True), ["id"], limit=limit)
        if not batches:
            if time.monotonic() >= idle_until:
                break
            time.sleep(0.05)
            continue
        by_org: dict[int, list[EventBatch]] = defaultdict(list)
        for batch in batches:
            by_org[batch.org_id].append(batch)
        for group in by_org.values():
            done += process_batches(group)
        idle_until = time.monotonic() + linger
    return done


def purge(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete dedup rows past the 7-day window and processed raw batches past their keep time."""
    now = now or clock.now()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM cdp_eventdedup WHERE received_at < %s", [_dt(now - dt.timedelta(days=DEDUP_DAYS))])
        dedup = cur.rowcount
        keep = dt.timedelta(hours=setting("SIYU_INGEST_KEEP_PROCESSED_HOURS"))
        cur.execute("DELETE FROM cdp_eventbatch WHERE processed_at IS NOT NULL AND processed_at < %s",
                    [_dt(now - keep)])
        batches = cur.rowcount
    return {"dedup": dedup, "batches": batches}
