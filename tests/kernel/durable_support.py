"""Test-only events, handlers and actions for the worker tests (``test_durable_worker.py``).

Not collected by pytest (no ``test_`` prefix). The real ``siyu worker`` imports this module because the test
starts it with ``SIYU_EXTRA_TASK_MODULES=durable_support`` and ``tests/kernel`` on ``PYTHONPATH``: the
production code path, with nothing test-specific installed.

``do_work`` writes its effect (a ``WorkDone`` event row) in its transaction, drops a ``<job>.started.<n>``
file, then waits for a ``release`` file: the test kills the worker while it waits, which rolls the transaction
back, then creates ``release`` and starts a new worker.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from siyu.kernel import events, scheduled


@dataclass(frozen=True)
class WorkRequested(events.DomainEvent):
    topic = "test.WorkRequested"
    job: str


@dataclass(frozen=True)
class WorkDone(events.DomainEvent):
    topic = "test.WorkDone"
    job: str


@dataclass(frozen=True)
class Pinged(events.DomainEvent):
    topic = "test.Pinged"
    n: int


def do_work(job: str, org_id: int | None) -> None:
    signals = Path(os.environ["SIYU_TEST_SIGNAL_DIR"])
    started = len(list(signals.glob(f"{job}.started.*"))) + 1
    events.emit(WorkDone(org_id=org_id, job=job))
    (signals / f"{job}.started.{started}").write_text(str(os.getpid()))
    deadline = time.monotonic() + 60  # bounded: a test that never kills us must not hang the worker forever
    while not (signals / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def on_work_requested(event: WorkRequested) -> None:
    do_work(event.job, event.org_id)


def run_work(due: scheduled.DueAction) -> None:
    do_work(due.args["job"], due.org_id)


def on_pinged(event: Pinged) -> None:
    """Does nothing: the ping measures how soon a committed event reaches its handler."""


events.subscribe(WorkRequested, on_work_requested, name="test.do_work")
events.subscribe(Pinged, on_pinged, name="test.pinged")
scheduled.register_action("test.do_work", run_work)
