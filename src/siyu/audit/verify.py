"""Walk a chain in seq order, recompute every hash, and name the first entry that was edited, deleted or
reordered. Streams rows with ``.iterator()`` so a chain of millions of entries needs constant memory.

What each tampering looks like to the walk:

* **edited** — the entry's recomputed hash differs from its stored hash (and it does not fit elsewhere);
* **reordered** — the recomputed hash differs, but the entry hashes correctly at another position (the one
  after the entry its ``prev_hash`` names): it was moved;
* **deleted** — a gap in seq, a chain that starts above 1 without a matching purge checkpoint, or an entry
  whose ``prev_hash`` is not the previous entry's hash (the entry before it was removed or re-sealed).

A deleted *newest* entry leaves no trace inside the database; the summary prints each chain's head
(seq and hash) so an operator can record it elsewhere and compare.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .chain import GENESIS, entry_hash
from .models import AuditCheckpoint, AuditLogEntry

CHUNK = 2000
PROGRESS_EVERY = 100_000
REORDER_WINDOW = 1000


@dataclass(frozen=True)
class Problem:
    kind: str  # "edited" | "deleted" | "reordered"
    seq: int  # the chain position where the walk found it
    entry_id: int | None  # the row found at (or right after) that position
    detail: str


@dataclass
class ChainReport:
    org_id: int | None
    entries: int = 0
    first_seq: int | None = None
    head_seq: int | None = None
    head_hash: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def chain_ids() -> list[int | None]:
    """Every chain that has entries or checkpoints (None is the pre-organisation chain)."""
    ids = set(AuditLogEntry.objects.unscoped_all_orgs().order_by().values_list("org_id", flat=True).distinct())
    ids |= set(AuditCheckpoint.objects.unscoped_all_orgs().order_by().values_list("org_id", flat=True).distinct())
    return sorted(ids, key=lambda v: (v is not None, v or 0))


def _start(org_id: int | None, first: AuditLogEntry) -> Problem | None:
    """Where the chain may begin: seq 1 from genesis, or right after a purge checkpoint."""
    if first.seq == 1:
        if first.prev_hash != GENESIS:
            return Problem("deleted", 1, first.pk, "the first entry does not start from the genesis hash")
        return None
    checkpoint = AuditCheckpoint.objects.chain(org_id).filter(seq=first.seq - 1).first()
    if checkpoint is None:
        return Problem("deleted", first.seq - 1, first.pk,
                       f"entries before seq {first.seq} are missing and no purge checkpoint covers them")
    if checkpoint.hash != first.prev_hash:
        return Problem("deleted", first.seq - 1, first.pk,
                       f"seq {first.seq} does not follow the purge checkpoint at seq {checkpoint.seq}")
    return None


def _misplaced_at(org_id: int | None, entry: AuditLogEntry) -> int | None:
    """The position the entry hashes correctly at, if its content is intact but it was moved (error path only).

    Candidates: right after the entry its ``prev_hash`` names (a moved neighbour may carry a changed seq
    itself, hence also) every position within :data:`REORDER_WINDOW` of where it stands now. A move farther
    than that is still caught, as an edit.
    """
    candidates = [1] if entry.prev_hash == GENESIS else []
    named = AuditLogEntry.objects.chain(org_id).filter(hash=entry.prev_hash).values_list("seq", flat=True)
    candidates += [s + 1 for s in named]
    checkpoint = AuditCheckpoint.objects.chain(org_id).filter(hash=entry.prev_hash).values_list("seq", flat=True)
    candidates += [s + 1 for s in checkpoint]
    candidates += range(max(1, entry.seq - REORDER_WINDOW), entry.seq + REORDER_WINDOW + 1)
    for seq in candidates:
        if seq != entry.seq and entry_hash(entry, seq=seq) == entry.hash:
            return seq
    return None


def _check(org_id: int | None, entry: AuditLogEntry, prev: AuditLogEntry | None) -> Problem | None:
    if prev is not None and entry.seq != prev.seq + 1:
        return Problem("deleted", prev.seq + 1, entry.pk,
                       f"seq {prev.seq + 1}..{entry.seq - 1} missing (the chain jumps from {prev.seq} to {entry.seq})")
    if entry_hash(entry) != entry.hash:
        moved_from = _misplaced_at(org_id, entry)
        if moved_from is not None:
            return Problem("reordered", entry.seq, entry.pk,
                           f"entry {entry.pk} at seq {entry.seq} was written as seq {moved_from}")
        return Problem("edited", entry.seq, entry.pk, f"entry {entry.pk} at seq {entry.seq} does not match its hash")
    if prev is not None and entry.prev_hash != prev.hash:
        return Problem("deleted", entry.seq, entry.pk,
                       f"seq {entry.seq} does not follow seq {prev.seq}: an entry between them was removed or re-sealed")
    return None


def _walk(org_id: int | None) -> Iterator[AuditLogEntry]:
    return AuditLogEntry.objects.chain(org_id).order_by("seq").iterator(chunk_size=CHUNK)


def verify_chain(org_id: int | None, *, progress: Callable[[int | None, int], None] | None = None) -> ChainReport:
    """Verify one chain; stops at the first problem (everything after it is suspect anyway)."""
    report = ChainReport(org_id=org_id)
    prev: AuditLogEntry | None = None
    for entry in _walk(org_id):
        problem = _start(org_id, entry) if prev is None else None
        problem = problem or _check(org_id, entry, prev)
        if prev is None:
            report.first_seq = entry.seq
        report.entries += 1
        if problem:
            report.problems.append(problem)
            return report
        prev = entry
        if progress and report.entries % PROGRESS_EVERY == 0:
            progress(org_id, report.entries)
    if prev is not None:
        report.head_seq, report.head_hash = prev.seq, prev.hash
    else:
        last = AuditCheckpoint.objects.chain(org_id).order_by("-seq").first()
        if last is not None:  # a purge always keeps the newest entry, so an empty chain was emptied by hand
            report.problems.append(Problem("deleted", last.seq + 1, None,
                                           f"every entry after the purge checkpoint at seq {last.seq} is missing"))
    return report


def verify_all(org_ids: list[int | None] | None = None, *, progress=None) -> list[ChainReport]:
    return [verify_chain(org_id, progress=progress) for org_id in (chain_ids() if org_ids is None else org_ids)]
