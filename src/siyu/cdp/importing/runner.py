"""Running an import: chunked, resumable, deduplicating and merging through identities.

Each chunk of ``CHUNK_ROWS`` records is one transaction that also advances the job's ``done_rows`` and its
counters; the job row is locked first and must still be where this runner left it (a second runner on the
same job stops instead of importing twice). A kill at any row loses only the uncommitted chunk, and running
the job again skips the committed records and goes on: same profiles, identities, tags, counters and error
report as a run that was never interrupted.

Within a chunk (see ``README.md`` for the why):

1. every record is converted through the mapping (a row with a bad cell is rejected whole, with its reasons);
2. rows sharing an identifier are grouped (dedup within the file); the identifiers of the whole chunk are
   looked up by blind index in a few queries (dedup against existing profiles);
3. **fast path** for the usual cases, written in bulk (COPY on PostgreSQL): a group that matches nothing
   creates one profile; a group that matches exactly one profile fills that profile's empty fields (never
   overwriting with blanks), adds its new identifiers (within the per-type limits) and tags;
4. **slow path**, row by row through :func:`cdp.resolution.resolve_profile`, for everything its rules must
   decide: rows linking two or more existing profiles (merge, or the review queue when the guard says so),
   blocklisted identifiers, link-only identifiers (anonymous and device ids), groups whose identifiers break
   a type's limit; and for the rows of a fast batch that a concurrent writer collided with.

A dry run does steps 1-2 and counts what would happen, writing nothing but the error report file.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import IntegrityError, connection, transaction

from siyu.kernel import auditing, clock
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, ValidationFailed
from siyu.kernel.lookups import among

from .. import search
from .. import tags as tag_module
from ..bulkload import copy_rows
from ..changes import batched, profiles_changed
from ..identifiers import Identifier
from ..models import (
    Identity,
    IdentityBlocklist,
    ImportJob,
    Profile,
    ProfileKind,
    ProfileStatus,
    ProfileTag,
    Tag,
    TagGroupKind,
)
from ..resolution import find_profiles, resolve_profile
from ..rules import MAX_IDENTITIES_PER_MERGE, rule_for
from ..timeline import add_entry
from . import prefetch, readers
from .errors import ErrorReport, storage_dir
from .identities import Sealer
from .mapping import TEXT_FIELDS, Compiled, Row, RowError, compile_mapping, convert, is_blocklisted

CHUNK_ROWS = 5000
LOOKUP_BATCH = 20_000
FILLABLE = (*TEXT_FIELDS, "gender", "birthday")
OUT_OF_SCOPE = "matches a customer you cannot see"
RESULT_KEYS = ("updated", "profiles_merged", "reviews", "duplicates", "skipped", "report_lines")

Fault = Callable[[str, int], None]


class Superseded(Exception):
    """Another runner moved this job on (or it was reset): this one stops without writing."""


@dataclass
class Counts:
    created: int = 0  # profiles created
    merged: int = 0  # rows that joined an existing profile or an earlier row's
    errors: int = 0  # rows rejected
    updated: int = 0  # existing profiles that gained values, identifiers or tags
    profiles_merged: int = 0  # existing profiles folded into another through this file
    reviews: int = 0  # rows whose merge the guard sent to the review queue
    duplicates: int = 0  # rows that repeated an earlier row of the file (counted in ``merged`` too)
    skipped: int = 0  # blank rows
    report_lines: int = 0  # lines in the error report

    def add(self, other: Counts) -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    @classmethod
    def of(cls, job: ImportJob) -> Counts:
        result = (job.mapping or {}).get("_result", {})
        return cls(job.created_count, job.merged_count, job.error_count,
                   **{k: int(result.get(k, 0)) for k in RESULT_KEYS})


def result_of(job: ImportJob) -> dict[str, Any]:
    """The job's counters as one dictionary (the model's three plus the details kept beside the mapping)."""
    c = Counts.of(job)
    return {"created": c.created, "merged": c.merged, "errors": c.errors, "updated": c.updated,
            "profiles_merged": c.profiles_merged, "reviews": c.reviews, "duplicates": c.duplicates,
            "skipped": c.skipped, "failure": (job.mapping or {}).get("_result", {}).get("failure", "")}


@dataclass
class Run:
    actor: Actor
    job: ImportJob
    compiled: Compiled
    report: ErrorReport
    dry: bool
    blocklist: set[tuple[str, str]]
    now: dt.datetime
    virtual: dict[int, int] = field(default_factory=dict)  # dry run: identifier -> would-be profile
    fault: Fault | None = None
    report_open: bool = False

    @property
    def source(self) -> str:
        return self.compiled.source


# --- entry point ----------------------------------------------------------------------------------------


def error_path(job: ImportJob) -> Path:
    folder = storage_dir(job.org_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"import-{job.pk}-errors.csv"


STALE_SECONDS = 120


def is_stale(job: ImportJob) -> bool:
    """A running job whose runner has not committed a chunk for a while (killed worker): it may be resumed."""
    return (job.status == ImportJob.Status.RUNNING
            and (clock.now() - job.updated_at).total_seconds() > STALE_SECONDS)


def begin_run(*, actor: Actor, job_id: int, dry_run: bool = False, force: bool = False) -> ImportJob:
    """Mark the job as running (a dry run, a fresh run, or the resumption of a failed or killed one); the
    caller then has :func:`run_job` do it (a background task, or the command line). A job whose runner is
    alive is a 409 unless ``force`` (the operator's own re-run after a kill)."""
    job = ImportJob.objects.in_org(actor).select_for_update().get(pk=job_id)
    if job.status == ImportJob.Status.DONE:
        if dry_run:
            raise Conflict("this import has run; a dry run would overwrite its counts", code="import_done")
        return job
    if job.status == ImportJob.Status.RUNNING and not force and not is_stale(job):
        raise Conflict("this import is running", code="import_running")
    if not job.mapping.get("columns"):
        raise ValidationFailed("map the columns first", fields={"mapping": ["no mapping saved"]})
    resuming = (not dry_run and not job.dry_run and job.done_rows > 0
                and job.status in (ImportJob.Status.RUNNING, ImportJob.Status.FAILED))
    if resuming:
        job.mapping = {**job.mapping, "_result": {**job.mapping.get("_result", {}), "failure": ""}}
    else:
        job.done_rows = job.created_count = job.merged_count = job.error_count = 0
        job.mapping = {**job.mapping, "_result": {}}
        job.finished_at = None
    job.status, job.dry_run = ImportJob.Status.RUNNING, dry_run
    job.error_file_path = str(error_path(job))
    job.save()
    auditing.record_write(actor, "resume" if resuming else ("dry_run" if dry_run else "run"), "cdp.import",
                          job.pk, {"status": [None, "running"]}, file=job.file_name, from_row=job.done_rows)
    return job


def run_job(*, actor: Actor, job_id: int, chunk_rows: int | None = None,
            progress: Callable[[ImportJob], None] | None = None, fault: Fault | None = None) -> ImportJob:
    """Do the run :func:`begin_run` marked, from the job's resume point, committing chunk by chunk (called
    inside a transaction, as tests do, the chunks are savepoints). A job that is not marked running is
    returned unchanged (a task delivered twice, a run another runner finished)."""
    job = ImportJob.objects.in_org(actor).get(pk=job_id)
    if job.status != ImportJob.Status.RUNNING:
        return job
    try:
        return _run(actor, job, job.dry_run, chunk_rows or CHUNK_ROWS, progress, fault)
    except Superseded:
        return ImportJob.objects.in_org(actor).get(pk=job.pk)
    except Exception as exc:
        fail_job(actor, job.pk, job.dry_run, exc)
        raise


def fail_job(actor: Actor, job_id: int, dry_run: bool, exc: Exception) -> None:
    """Record why a run stopped; a failed run resumes from its last chunk when started again."""
    message = exc.message if isinstance(exc, ValidationFailed) else f"{type(exc).__name__}: {exc}"
    with transaction.atomic():
        job = ImportJob.objects.in_org(actor).select_for_update().get(pk=job_id)
        if job.status == ImportJob.Status.RUNNING and job.dry_run == dry_run:
            job.status = ImportJob.Status.MAPPED if dry_run else ImportJob.Status.FAILED
            job.mapping = {**job.mapping, "_result": {**job.mapping.get("_result", {}), "failure": message[:500]}}
            job.save(update_fields=["status", "mapping", "updated_at"])


def _run(actor: Actor, job: ImportJob, dry_run: bool, chunk_rows: int, progress, fault) -> ImportJob:
    path = Path(job.file_path)
    info = readers.inspect(path)
    table = readers.open_table(path, info)
    compiled = compile_mapping(actor, job.mapping, table.header)
    expected = (job.mapping.get("_file") or {}).get("sha256")
    if expected and expected != info.sha256:
        raise ValidationFailed("the file changed since it was uploaded",
                               fields={"file": ["the file is not the one this job was created for"]})
    report = ErrorReport(Path(job.error_file_path), table.header)
    blocklist = set(IdentityBlocklist.objects.in_org(actor).values_list("type", "value_index"))
    run = Run(actor, job, compiled, report, dry_run, blocklist, clock.now(), fault=fault)
    if not job.total_rows:
        job.total_rows = readers.count_lines(path) if info.kind == "csv" else 0
    done = job.done_rows
    refresh_statistics()
    # records are read and converted a chunk ahead, in a second thread unless conversion queries the database
    ahead = prefetch.chunks(table.records, skip=done, size=chunk_rows, prepare=lambda rec: _prepare(compiled, rec),
                            background=not prefetch.needs_database(compiled))
    with closing(ahead):
        for chunk, last in ahead:
            done = _commit_chunk(run, chunk, done, last=last)
            if progress:
                progress(run.job)
            if not last and done % STATS_EVERY_ROWS < chunk_rows:
                refresh_statistics()
    return run.job


def _prepare(compiled: Compiled, rec: readers.Record) -> Row | RowError | None:
    """A record through the mapping (None for a blank row); no database, no side effects."""
    if rec.blank:
        return None
    if rec.problem:
        return RowError(rec.line, rec.cells, {"row": [rec.problem]})
    return convert(compiled, rec.line, rec.cells)


STATS_TABLES = ("cdp_profile", "cdp_identity", "cdp_profiletag")
STATS_EVERY_ROWS = 100_000


def refresh_statistics() -> None:
    """ANALYZE the tables an import reads when they changed by a fifth since PostgreSQL last looked.

    The chunk queries filter by organisation and by an array of ids or blind indexes. Right after a bulk load
    (a previous import, ``siyu bench-data``, or this import's own first chunks) the planner's statistics still
    say the organisation has few rows, and it picks the organisation index and filters a million rows per
    query (seconds instead of milliseconds). Autovacuum catches up eventually; an import cannot wait for it."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        cur.execute(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.relname = ANY(%s) AND s.n_mod_since_analyze > 0.2 * GREATEST(c.reltuples, 1000)",
            [list(STATS_TABLES)])
        for (table,) in cur.fetchall():
            cur.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def _commit_chunk(run: Run, records: prefetch.Prepared, done: int, last: bool = False) -> int:
    with transaction.atomic():
        job = ImportJob.objects.in_org(run.actor).select_for_update().get(pk=run.job.pk)
        if job.done_rows != done or job.status != ImportJob.Status.RUNNING or job.dry_run != run.dry:
            raise Superseded()
        if not run.report_open:
            # Under the job's lock: a runner still finishing a chunk has either committed (and this one
            # stopped above) or not yet written its lines.
            run.report.open(Counts.of(job).report_lines)
            run.report_open = True
        # the chunk's profiles (created, filled, tagged, merged) reach segment membership as one message
        with batched(run.actor.org_id, reason="import"):
            counts = _process(run, records, done) if records else Counts()
        run.report.flush()
        if run.fault:
            run.fault("flushed", done + len(records))
        total = Counts.of(job)
        total.add(counts)
        job.done_rows = done + len(records)
        job.created_count, job.merged_count, job.error_count = total.created, total.merged, total.errors
        result = {k: getattr(total, k) for k in RESULT_KEYS}
        job.mapping = {**job.mapping, "_result": {**job.mapping.get("_result", {}), **result}}
        if last:
            job.total_rows = job.done_rows
            job.status = ImportJob.Status.MAPPED if run.dry else ImportJob.Status.DONE
            job.finished_at = clock.now()
        job.save()
        if last:
            auditing.record_write(run.actor, "dry_run" if run.dry else "import", "cdp.import", job.pk,
                                  {"status": ["running", job.status]}, file=job.file_name, rows=job.done_rows,
                                  **{k: v for k, v in result_of(job).items() if k != "failure"})
        run.job = job
        return job.done_rows


# --- one chunk ------------------------------------------------------------------------------------------


@dataclass
class Group:
    rows: list[Row]
    identifiers: list[Identifier]
    target: int | None = None  # the one existing profile it matches


def _process(run: Run, records: prefetch.Prepared, done: int) -> Counts:
    counts = Counts()
    rows: list[Row] = []
    for n, (_rec, result) in enumerate(records, done + 1):
        if run.fault:
            run.fault("row", n)
        if result is None:
            counts.skipped += 1
            continue
        if isinstance(result, RowError):
            _reject(run, counts, result.line, result.text(), result.cells)
        else:
            rows.append(result)
    if not rows:
        return counts
    sealer = Sealer()
    blocked = {i for r in rows for i in r.identifiers
               if is_blocklisted(i) or (i.type, sealer.index(i)) in run.blocklist}
    groups = _group(rows, blocked)
    found = _lookup(run, sealer, [i for r in rows for i in r.identifiers])
    fast_new: list[Group] = []
    fast_update: dict[int, list[Group]] = defaultdict(list)
    slow: list[Row] = []
    for g in groups:
        matched = {found[i] for i in g.identifiers if i in found}
        if (len(matched) > 1 or any(i in blocked or not rule_for(i.type).merges for i in g.identifiers)
                or _over_limits(g.identifiers)):
            slow.extend(g.rows)
        elif matched:
            g.target = matched.pop()
            fast_update[g.target].append(g)
        else:
            fast_new.append(g)
    targets = set(fast_update)
    if targets:
        visible = set(Profile.objects.visible_to(run.actor).filter(among("pk", targets)).values_list("pk", flat=True))
        for pid in sorted(targets - visible):
            for g in fast_update.pop(pid):
                for row in g.rows:
                    _reject(run, counts, row.line, OUT_OF_SCOPE, row.cells)
    if run.dry:
        _dry_count(run, sealer, counts, fast_new, fast_update, slow, found)
        return counts
    _ensure_tags(run, {t for r in rows for t in r.tags})
    try:
        with transaction.atomic():
            fast = Counts()
            _write_new(run, sealer, fast, fast_new)
            _write_updates(run, sealer, fast, fast_update)
        counts.add(fast)
    except IntegrityError:
        # A concurrent writer (ingestion, another import) took one of these identifiers meanwhile: the
        # resolution rules decide those rows one at a time.
        slow.extend(r for g in fast_new for r in g.rows)
        slow.extend(r for gs in fast_update.values() for g in gs for r in g.rows)
    for row in sorted(slow, key=lambda r: r.line):
        _slow_row(run, sealer, counts, row)
    return counts


def _reject(run: Run, counts: Counts, line: int, reason: str, cells: list[str]) -> None:
    counts.errors += 1
    counts.report_lines += 1
    run.report.add(line, reason, cells)


def _group(rows: list[Row], blocked: set[Identifier]) -> list[Group]:
    """Rows sharing an identifier (blocklisted ones excepted) form one group, in file order."""
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[Identifier, int] = {}
    for n, row in enumerate(rows):
        for ident in row.identifiers:
            if ident in blocked:
                continue
            other = owner.setdefault(ident, n)
            if other != n:
                a, b = root(other), root(n)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    members: dict[int, list[Row]] = defaultdict(list)
    for n, row in enumerate(rows):
        members[root(n)].append(row)
    return [Group(rs, list(dict.fromkeys(i for r in rs for i in r.identifiers))) for rs in members.values()]


def _over_limits(ids: list[Identifier]) -> bool:
    per_type: dict[str, int] = defaultdict(int)
    for i in ids:
        per_type[i.type] += 1
    return len(ids) > MAX_IDENTITIES_PER_MERGE or any(n > rule_for(t).max_per_profile for t, n in per_type.items())


def _lookup(run: Run, sealer: Sealer, ids: list[Identifier]) -> dict[Identifier, int]:
    """The live profile owning each identifier that exists (a few queries for the whole chunk)."""
    by_key = {(i.type, i.namespace, sealer.index(i)): i for i in ids}
    indexes = sorted({k[2] for k in by_key})
    owners: dict[Identifier, int] = {}
    for lo in range(0, len(indexes), LOOKUP_BATCH):  # one query a chunk (SQLite's limit is 32,766 variables)
        batch = indexes[lo: lo + LOOKUP_BATCH]
        for t, ns, idx, pid in Identity.objects.in_org(run.actor).filter(among("value_index", batch)).values_list(
                "type", "namespace", "value_index", "profile_id"):
            ident = by_key.get((t, ns, idx))
            if ident is not None:
                owners[ident] = pid
    if owners:
        live = _live_ids(run.actor, set(owners.values()))
        owners = {i: live[p] for i, p in owners.items()}
    return owners


def _live_ids(actor: Actor, pids: set[int]) -> dict[int, int]:
    """Each profile id mapped to the profile it was merged into, if it was (identities normally move with a
    merge, so this only matters for rows written while one was happening)."""
    out = {p: p for p in pids}
    for _ in range(10):
        hops = dict(Profile.objects.in_org(actor).filter(
            among("pk", set(out.values())), status=ProfileStatus.MERGED, merged_into__isnull=False,
        ).values_list("pk", "merged_into_id"))
        if not hops:
            break
        out = {start: hops.get(cur, cur) for start, cur in out.items()}
    return out


# --- values ---------------------------------------------------------------------------------------------


def _combined(rows: list[Row]) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str]]]:
    """A group's values: the first non-empty value of each field in file order, tags of every row."""
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    tags: list[tuple[str, str]] = []
    for r in rows:
        for k, v in r.fields.items():
            fields.setdefault(k, v)
        for k, v in r.custom.items():
            custom.setdefault(k, v)
        tags.extend(r.tags)
    return fields, custom, list(dict.fromkeys(tags))


def fill_blanks(current: dict[str, Any], current_custom: dict[str, Any], fields: dict[str, Any],
                custom: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What an import may change on an existing profile: fields that are empty there, custom values it lacks.
    Never overwrites a value, never with a blank."""
    changed = {k: v for k, v in fields.items() if v not in (None, "") and current.get(k) in (None, "")}
    new_custom = {k: v for k, v in custom.items() if k not in current_custom and v is not None}
    return changed, new_custom


def _owner(run: Run) -> tuple[int | None, int | None]:
    """New people are owned by the importing user (filed under their department), as in the console."""
    return run.actor.user_id, run.actor.department_id


def _ensure_tags(run: Run, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    known = run.compiled.known_tags
    for group, name in sorted(wanted - set(known)):
        tag = tag_module.get_or_create_tag(actor=run.actor, group=group, name=name, kind=TagGroupKind.IMPORTED)
        auditing.record_write(run.actor, "create", "cdp.tag", tag.pk, {"tag": [None, f"{group}/{name}"]},
                              source="import")
        known[(group, name)] = tag.pk
    return known


def _db_time(value: dt.datetime):
    return value if connection.vendor == "postgresql" else connection.ops.adapt_datetimefield_value(value)


def _allocate_profile_ids(n: int) -> list[int]:
    """``n`` fresh profile ids. PostgreSQL: from the sequence (safe with concurrent writers); SQLite: after the
    current maximum, which is safe because the chunk's transaction holds the database's write lock."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT nextval(pg_get_serial_sequence('cdp_profile', 'id')) FROM generate_series(1, %s)",
                        [n])
            return sorted(r[0] for r in cur.fetchall())
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM cdp_profile")
        first = cur.fetchone()[0] + 1
    return list(range(first, first + n))


PROFILE_COLUMNS = ["id", "org_id", "kind", "status", "name", "gender", "birthday", "province", "city", "source",
                   "channel", "lifecycle_stage", "lifecycle_changed_at", "owner_id", "department_id", "traits",
                   "custom", "first_seen_at", "last_seen_at", "identity_count", "created_at", "updated_at",
                   "merged_into_id", "account_id"]
IDENTITY_COLUMNS = ["org_id", "profile_id", "type", "namespace", "value", "value_index", "source", "is_primary",
                    "created_at", "updated_at"]
TAG_COLUMNS = ["org_id", "profile_id", "tag_id", "source", "added_by_id", "created_at", "updated_at"]
TIMELINE_COLUMNS = ["org_id", "profile_id", "kind", "at", "ref_type", "ref_id", "data", "created_at", "updated_at"]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# --- fast path: new profiles ----------------------------------------------------------------------------


def _write_new(run: Run, sealer: Sealer, counts: Counts, groups: list[Group]) -> None:
    if not groups:
        return
    org, now = run.actor.org_id, _db_time(run.now)
    owner, dept = _owner(run)
    tag_ids = run.compiled.known_tags
    pids = _allocate_profile_ids(len(groups))
    profiles, identities, links, timeline, names = [], [], [], [], []
    # What is the same for every row of the batch is computed once (the JSON texts are the ones _dumps makes).
    person, active, source, job_ref, user = (ProfileKind.PERSON.value, ProfileStatus.ACTIVE.value, run.source,
                                             str(run.job.pk), run.actor.user_id)
    created_data = _dumps({"source": source})
    tag_rows = _TagRows(tag_ids)
    for pid, g in zip(pids, groups, strict=True):
        fields, custom, tags = _combined(g.rows)
        get = fields.get
        profiles.append((
            pid, org, person, active, get("name", ""), get("gender", ""), get("birthday"), get("province", ""),
            get("city", ""), source, get("channel", ""), "", None, owner, dept, "{}",
            _dumps(custom) if custom else "{}", now, now, len(g.identifiers), now, now, None, None))
        identities.extend((org, pid, i.type, i.namespace, sealer.encrypt(i), sealer.index(i), source, False,
                           now, now) for i in g.identifiers)
        timeline.append((org, pid, "profile.created", now, "cdp.import", job_ref, created_data, now, now))
        for t in tags:
            tag_id, tag_ref, tag_data = tag_rows[t]
            links.append((org, pid, tag_id, "import", user, now, now))
            timeline.append((org, pid, "tag.added", now, "cdp.tag", tag_ref, tag_data, now, now))
        names.append(_Named(pid, fields.get("name", "")))
        counts.created += 1
        counts.merged += len(g.rows) - 1
        counts.duplicates += len(g.rows) - 1
    copy_rows("cdp_profile", PROFILE_COLUMNS, profiles)
    copy_rows("cdp_identity", IDENTITY_COLUMNS, identities)
    copy_rows("cdp_profiletag", TAG_COLUMNS, links)
    copy_rows("cdp_timelineentry", TIMELINE_COLUMNS, timeline)
    search.index_profiles(names)
    profiles_changed(org, pids, reason="import")
    auditing.record_write(run.actor, "create", "cdp.profile", "", {}, via="import", import_job=run.job.pk,
                          count=len(pids), ids=_ranges(pids), source=run.source)


class _TagRows(dict):
    """(group, name) -> (tag id, its timeline ref, its ``tag.added`` data), each computed on first use."""

    def __init__(self, tag_ids: dict[tuple[str, str], int]):
        super().__init__()
        self.tag_ids = tag_ids

    def __missing__(self, key: tuple[str, str]) -> tuple[int, str, str]:
        tag_id = self.tag_ids[key]
        value = self[key] = (tag_id, str(tag_id), _dumps({"tag": f"{key[0]}/{key[1]}", "source": "import"}))
        return value


@dataclass(frozen=True)
class _Named:
    """What the search index reads of a profile."""

    pk: int
    name: str


def _ranges(ids: list[int]) -> list[list[int]]:
    """Sorted ids as [first, last] runs (a chunk's new ids are usually one run)."""
    out: list[list[int]] = []
    for i in sorted(ids):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


# --- fast path: profiles that exist ---------------------------------------------------------------------


def _write_updates(run: Run, sealer: Sealer, counts: Counts, units: dict[int, list[Group]]) -> None:
    if not units:
        return
    org, now = run.actor.org_id, _db_time(run.now)
    pids = sorted(units)
    current = {p["pk"]: p for p in Profile.objects.in_org(run.actor).filter(among("pk", pids)).values(
        "pk", "status", "custom", "identity_count", *FILLABLE)}
    have_ids: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for pid, t, idx in Identity.objects.in_org(run.actor).filter(among("profile_id", pids)).values_list(
            "profile_id", "type", "value_index"):
        have_ids[pid][t].add(idx)
    have_tags = set(ProfileTag.objects.in_org(run.actor).filter(among("profile_id", pids)).values_list(
        "profile_id", "tag_id"))
    tag_ids = run.compiled.known_tags
    tag_rows = _TagRows(tag_ids)
    updates, identities, links, timeline, renamed, touched = [], [], [], [], [], []
    for pid in pids:
        rows = sorted((r for g in units[pid] for r in g.rows), key=lambda r: r.line)
        counts.merged += len(rows)
        counts.duplicates += sum(len(g.rows) - 1 for g in units[pid])
        p = current[pid]
        fields, custom, tags = _combined(rows)
        changed, new_custom = fill_blanks(p, p["custom"] or {}, fields, custom)
        new_ids = []
        for i in dict.fromkeys(i for g in units[pid] for i in g.identifiers):
            have = have_ids[pid][i.type]
            idx = sealer.index(i)
            if idx in have or len(have) >= rule_for(i.type).max_per_profile:
                continue  # already there, or over the type's limit: kept as it is (as resolution does)
            have.add(idx)
            new_ids.append(i)
        new_tags = [t for t in tags if (pid, tag_ids[t]) not in have_tags]
        restored = p["status"] == ProfileStatus.DELETED
        if not (changed or new_custom or new_ids or new_tags or restored):
            continue
        counts.updated += 1
        touched.append(pid)
        if changed or new_custom or new_ids or restored:
            row = {**{k: p[k] for k in FILLABLE}, **changed}
            updates.append((pid, *(row[k] if row[k] is not None or k == "birthday" else "" for k in FILLABLE),
                            _dumps({**(p["custom"] or {}), **new_custom}),
                            ProfileStatus.ACTIVE.value if restored else p["status"],
                            p["identity_count"] + len(new_ids)))
            if "name" in changed:
                renamed.append(_Named(pid, changed["name"]))
        identities.extend((org, pid, i.type, i.namespace, sealer.encrypt(i), sealer.index(i), run.source, False,
                           now, now) for i in new_ids)
        if changed or new_custom:
            names = sorted([*changed, *(f"custom.{k}" for k in new_custom)])
            timeline.append((org, pid, "profile.updated", now, "cdp.import", str(run.job.pk),
                             _dumps({"fields": names, "source": "import"}), now, now))
        for t in new_tags:
            tag_id, tag_ref, tag_data = tag_rows[t]
            links.append((org, pid, tag_id, "import", run.actor.user_id, now, now))
            timeline.append((org, pid, "tag.added", now, "cdp.tag", tag_ref, tag_data, now, now))
    _update_profiles(updates, now)
    copy_rows("cdp_identity", IDENTITY_COLUMNS, identities)
    copy_rows("cdp_profiletag", TAG_COLUMNS, links)
    copy_rows("cdp_timelineentry", TIMELINE_COLUMNS, timeline)
    search.index_profiles(renamed)
    profiles_changed(org, touched, reason="import")
    if touched:
        auditing.record_write(run.actor, "update", "cdp.profile", "", {}, via="import", import_job=run.job.pk,
                              count=len(touched), ids=touched)


def _update_profiles(rows: list[tuple], now) -> None:
    """One statement per batch: ``UPDATE … FROM unnest(arrays)`` on PostgreSQL, ``executemany`` on SQLite."""
    if not rows:
        return
    cols = [*FILLABLE, "custom", "status", "identity_count"]
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            arrays = list(zip(*rows, strict=True))
            types = ["bigint", *(["text"] * len(TEXT_FIELDS)), "text", "date", "text", "text", "int"]
            sets = ", ".join(f'"{c}" = u."{c}"' + ("::jsonb" if c == "custom" else "") for c in cols)
            unnest = ", ".join(f"%s::{t}[]" for t in types)
            names = ", ".join(f'"{c}"' for c in ["id", *cols])
            cur.execute(
                f"UPDATE cdp_profile AS p SET {sets}, updated_at = %s "  # noqa: S608 - fixed column names
                f"FROM unnest({unnest}) AS u({names}) WHERE p.id = u.id",
                [now, *[list(a) for a in arrays]])
        else:
            sets = ", ".join(f'"{c}" = %s' for c in cols)
            cur.executemany(f"UPDATE cdp_profile SET {sets}, updated_at = %s WHERE id = %s",  # noqa: S608
                            [(*r[1:], now, r[0]) for r in rows])


# --- slow path: one row at a time through identity resolution ---------------------------------------------


def _slow_row(run: Run, sealer: Sealer, counts: Counts, row: Row) -> None:
    actor = run.actor
    owners = {p.pk for p in find_profiles(actor, row.identifiers).values()}
    if owners - set(Profile.objects.visible_to(actor).filter(pk__in=owners).values_list("pk", flat=True)):
        _reject(run, counts, row.line, OUT_OF_SCOPE, row.cells)
        return
    owner, dept = _owner(run)
    values = {**row.fields, "custom": dict(row.custom), "owner_id": owner, "department_id": dept}
    outcome = Counts()
    try:
        with transaction.atomic():
            res = resolve_profile(actor=actor, identifiers=row.identifiers, source=run.source, defaults=values)
            profile = res.profile
            profiles_changed(actor.org_id, [profile.pk, *res.merged_ids], reason="import")
            held_back = res.review is not None and res.review.reason != "blocklisted"
            if res.created:
                outcome.created += 1
                add_entry(profile=profile, kind="profile.created", ref_type="cdp.import", ref_id=str(run.job.pk),
                          data={"source": run.source})
                search.index_profiles([profile])
            else:
                outcome.merged += 1
                outcome.profiles_merged += len(res.merged_ids)
                if not held_back:
                    outcome.updated += _fill_one(run, profile, row)
            if row.tags and not held_back:
                tag_ids = run.compiled.known_tags
                tag_module.add_tags(actor=actor, profile=profile, source="import",
                                    tags=list(Tag.objects.in_org(actor).filter(
                                        pk__in=[tag_ids[t] for t in row.tags]).select_related("group")))
    except ValidationFailed as exc:
        reasons = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items()) or exc.message
        _reject(run, counts, row.line, reasons, row.cells)
        return
    if res.review is not None:
        outcome.reviews += 1
        outcome.report_lines += 1
        run.report.add(row.line, f"sent to the merge review queue (#{res.review.pk}, {res.review.reason})",
                       row.cells)
    counts.add(outcome)


def _fill_one(run: Run, profile: Profile, row: Row) -> int:
    """Fill the empty fields of one resolved profile; 1 when it changed."""
    current = {k: getattr(profile, k) for k in FILLABLE}
    changed, new_custom = fill_blanks(current, profile.custom or {}, row.fields, row.custom)
    restored = profile.status == ProfileStatus.DELETED
    if not (changed or new_custom or restored):
        return 0
    for k, v in changed.items():
        setattr(profile, k, v)
    profile.custom = {**(profile.custom or {}), **new_custom}
    if restored:
        profile.status = ProfileStatus.ACTIVE
    profile.save(update_fields=[*changed, "custom", "status", "updated_at"])
    if "name" in changed:
        search.index_profiles([profile])
    auditing.record_write(run.actor, "update", "cdp.profile", profile.pk,
                          auditing.diff({k: current[k] for k in changed}, changed), via="import",
                          import_job=run.job.pk)
    return 1


# --- dry run --------------------------------------------------------------------------------------------


def _dry_count(run: Run, sealer: Sealer, counts: Counts, new: list[Group], updates: dict[int, list[Group]],
               slow: list[Row], found: dict[Identifier, int]) -> None:
    """What the run would do, without writing: identifiers of profiles the run would create are remembered
    (as 64-bit prefixes of their blind indexes) so later chunks see them as existing."""
    virtual = run.virtual

    def key(i: Identifier) -> int:
        return int(sealer.index(i)[:16], 16)

    def matches(ids: list[Identifier]) -> set[int]:
        return {found[i] for i in ids if i in found} | {virtual[key(i)] for i in ids if key(i) in virtual}

    def create(ids: list[Identifier]) -> None:
        vid = -(len(virtual) + 1)
        for i in ids:
            virtual.setdefault(key(i), vid)

    for g in new:
        hit = matches(g.identifiers)
        if hit:
            counts.merged += len(g.rows)
            counts.profiles_merged += len(hit) - 1
        else:
            counts.created += 1
            counts.merged += len(g.rows) - 1
            create(g.identifiers)
        counts.duplicates += len(g.rows) - 1
    for gs in updates.values():
        n = sum(len(g.rows) for g in gs)
        counts.merged += n
        counts.updated += 1
        counts.duplicates += n - len(gs)
    for row in slow:
        hit = matches(row.identifiers)
        if hit:
            counts.merged += 1
            counts.profiles_merged += len(hit) - 1
        else:
            counts.created += 1
            create(row.identifiers)
