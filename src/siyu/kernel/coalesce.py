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
