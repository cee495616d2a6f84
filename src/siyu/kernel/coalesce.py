"""Coalesce repeated calls: run ``fn`` at most once per ``interval`` per key, and never drop the last call.

The outbox nudge runs after every committing request; at 200 WeCom callbacks/s that was 200 huey enqueues/s, each
a queue write in the request and then a dispatch run on the worker, where one run already drains every pending
row. Coalesced, the first call in a quiet period runs at once (an idle system loses nothing), calls inside the
interval are folded into one trailing run at its end (so the last commit is still followed by a nudge, at most
``interval`` later), and nothing waits for the periodic poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

logger = logging.getLogger(__name__)


class Coalescer:
    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[Hashable, float] = {}
        self._trailing: dict[Hashable, threading.Timer] = {}

    def call(self, key: Hashable, fn: Callable[[], object]) -> None:
        with self._lock:
            now = self._clock()
            wait = self._last.get(key, float("-inf")) + self.interval - now
            if wait <= 0:
                self._last[key] = now
            elif key in self._trailing:
                return  # a trailing run is already due: it covers this call
            else:
                timer = threading.Timer(wait, self._run_trailing, (key, fn))
                # not a daemon: a short-lived process (a CLI command, a shell) that exits inside the interval
                # still sends its last call, at most one interval later
                timer.daemon = False
                self._trailing[key] = timer
                timer.start()
                return
        fn()

    def _run_trailing(self, key: Hashable, fn: Callable[[], object]) -> None:
        with self._lock:
            self._trailing.pop(key, None)
            self._last[key] = self._clock()
        try:
            fn()
        except Exception:  # a timer thread has no caller to raise to (a leading call raises to its caller)
            logger.exception("coalesced call %r failed", key)


class SingleFlight:
    """Run ``fn`` in one thread of this process at a time; a call that arrives while it runs makes that run go
    round once more instead of starting a second one (so nothing that call was meant to pick up is missed).

    For claimers that drain everything pending before they return (the outbox dispatcher): a second thread
    running the same claimer in the same process added concurrency, not coverage, and on a small machine that
    concurrency competes with the web for the cores."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def run(self, fn: Callable[[], int]) -> int:
        with self._lock:
            if self._running:
                self._again = True
                return 0
            self._running = True
        total = 0
        try:
            while True:
                total += fn()
                with self._lock:
                    if not self._again:
                        self._running = False
                        return total
                    self._again = False
        except BaseException:
            with self._lock:
                self._running, self._again = False, False
            raise
