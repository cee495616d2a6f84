"""Group commit for single-event requests (``/v1/track``, ``/identify``, …): many requests, one transaction.

A single event costs a whole transaction on the request path (a commit that waits for the WAL flush), so under
many concurrent clients the database spends its time committing. Each web process runs one committer thread:
a request validates its event as before, hands it to the committer and waits; the committer takes every
request that arrived while the previous commit was running, plus any that arrive within
``SIYU_INGEST_GROUP_COMMIT_MS`` of the first (at most ``MAX_GROUP_EVENTS`` events), writes them with
:func:`.writer.write_parts` in **one** transaction and then wakes each request with its own result. Waiting
costs no throughput: requests keep arriving while a commit runs and simply join the next group.

Guarantees are those of a request that commits alone: a request is answered 2xx only after the transaction
holding its event committed (``synchronous_commit`` stays on); if the transaction fails, every request of the
group gets the error and nothing of the group is stored (dedup rows roll back with the batch row), so a client
retry is safe; a process killed before the commit answered nothing. A group that fails is written again
request by request, so one request's bad value (or a conflict) fails only that request. Deduplication is unchanged: the same
``messageId`` twice in one group is stored once (the first), and across groups the dedup table decides.

The committer has its own database connection (Django's are per thread). Inside an atomic block (tests that
wrap each test in a transaction, or a caller's own transaction) the write happens inline instead: another
connection could not see, nor roll back with, the caller's transaction.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field

from django.db import connection

from .config import setting
from .writer import Part, WriteResult, write_parts

logger = logging.getLogger(__name__)

MAX_GROUP_EVENTS = 500
WAIT_SECONDS = 30.0  # a request never waits longer than this for its group (then: 503, nothing acknowledged)


class CommitTimeout(Exception):
    """The group holding this request did not finish in time: the request is not acknowledged."""


@dataclass(eq=False)
class _Request:
    part: Part
    done: threading.Event = field(default_factory=threading.Event)
    result: WriteResult | None = None
    error: BaseException | None = None


_STOP = _Request(Part(None, (), None))  # type: ignore[arg-type] - the sentinel that ends the thread


class Committer:
    """One per process; started on first use (after the web server forked its workers)."""

    def __init__(self, window_seconds: float, max_events: int = MAX_GROUP_EVENTS):
        self.window = window_seconds
        self.max_events = max_events
        self.queue: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self.groups = 0  # committed transactions, for tests and diagnostics
        self._thread = threading.Thread(target=self._run, name="siyu-ingest-committer", daemon=True)
        self._thread.start()

    def submit(self, part: Part, timeout: float = WAIT_SECONDS) -> WriteResult:
        """Queue ``part`` and block until the transaction holding it committed (or raise its error)."""
        request = _Request(part)
        self.queue.put(request)
        if not request.done.wait(timeout):
            raise CommitTimeout("the group commit did not finish in time")
        if request.error is not None:
            raise request.error
        return request.result

    def _gather(self) -> list[_Request]:
        first = self.queue.get()
        group, events = [first], len(first.part.events) if first is not _STOP else 0
        deadline = time.monotonic() + self.window
        while events < self.max_events and first is not _STOP and group[-1] is not _STOP:
            try:  # whatever is already waiting joins at once; then wait out the window for more
                remaining = deadline - time.monotonic()
                item = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
            except queue.Empty:
                break
            group.append(item)
            events += len(item.part.events) if item is not _STOP else 0
        return group

    def _commit(self, group: list[_Request]) -> None:
        try:
            results = write_parts([r.part for r in group])
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting request, which re-raises it
            if len(group) > 1:
                # One request's bad value must not fail its neighbours: each alone, in its own transaction.
                for r in group:
                    self._commit([r])
                return
            logger.exception("ingest commit failed")
            connection.close()  # a broken connection is reopened for the next group
            group[0].error = exc
            group[0].done.set()
            return
        self.groups += 1
        for r, result in zip(group, results, strict=True):
            r.result = result
            r.done.set()

    def close(self) -> None:
        """Stop the thread after the groups already queued (their requests are still answered)."""
        self.queue.put(_STOP)
        self._thread.join(timeout=WAIT_SECONDS)

    def _run(self) -> None:
        try:
            while True:
                group = self._gather()
                stop = _STOP in group
                group = [r for r in group if r is not _STOP]
                if group:
                    self._commit(group)
                if stop:
                    return
        finally:
            connection.close()


_committer: dict[str, object] = {"pid": None, "instance": None}
_lock = threading.Lock()


def committer() -> Committer:
    """This process's committer (a forked child starts its own: threads do not survive a fork)."""
    with _lock:
        if _committer["pid"] != os.getpid():
            _committer["instance"] = Committer(setting("SIYU_INGEST_GROUP_COMMIT_MS") / 1000)
            _committer["pid"] = os.getpid()
        return _committer["instance"]


def shutdown() -> None:
    """Stop this process's committer, if one runs (tests; a web worker just exits)."""
    with _lock:
        instance, _committer["instance"], _committer["pid"] = _committer["instance"], None, None
    if instance is not None:
        instance.close()


def write(part: Part) -> WriteResult:
    """Write one request's events: through the group committer when it is on (``SIYU_INGEST_GROUP_COMMIT_MS``
    ≥ 0) and the caller is not inside a transaction, else inline."""
    if setting("SIYU_INGEST_GROUP_COMMIT_MS") < 0 or connection.in_atomic_block:
        return write_parts([part])[0]
    return committer().submit(part)
