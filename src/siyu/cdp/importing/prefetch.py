"""Reading and converting the next chunk while the current one is written.

An import spends about half its time waiting for the database (COPY, the chunk's lookups and its commit). A
background thread reads the file and converts its records through the mapping (pure CPU work: decoding, CSV,
phone and e-mail normalisation, dates) a chunk ahead, and runs while the writing thread waits for the database
(psycopg and sqlite3 release the GIL while they wait), so on a machine with a second core the two overlap.

The thread only prepares: it never touches the database, the error report, the job or the fault hook. It
hands over chunks in file order, each exactly the records the runner would have collected itself (the same
resume skip, the same chunk size, the same trailing chunk, possibly empty, marked last), and a reading error
surfaces in the runner when it reaches that point of the file, after the chunks before it. Conversion whose
field types check the database (user and lookup custom fields resolve values in the actor's organisation)
stays in the runner's thread and transaction: :func:`needs_database` says when.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.utils import translation

from siyu.platform.field_types.base import FieldType

from . import readers
from .mapping import Compiled

AHEAD = 2  # chunks prepared ahead of the writer (bounded memory: a few chunks of rows)
_END = object()


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


Prepared = list[tuple[readers.Record, Any]]


def needs_database(compiled: Compiled) -> bool:
    """Whether converting a row may query the database (a custom field type with its own ``clean``)."""
    for col in compiled.columns:
        if col.to == "custom":
            fd = compiled.meta.custom_field(col.field)
            if fd is not None and type(compiled.meta.type_of(fd.type)).clean is not FieldType.clean:
                return True
    return False


def chunks(records: Iterator[readers.Record], *, skip: int, size: int, prepare: Callable[[readers.Record], Any],
           background: bool) -> Iterator[tuple[Prepared, bool]]:
    """``(chunk, last)`` pairs: full chunks of ``size`` records with what ``prepare`` made of each, then the
    remainder (possibly empty) with ``last`` set; the first ``skip`` records are passed over unprepared."""
    if not background:
        yield from _chunks(records, skip, size, prepare)
        return
    ready: queue.Queue = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()
    language = translation.get_language()  # error reasons in the language the runner's thread would use

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            with translation.override(language):
                for item in _chunks(records, skip, size, prepare):
                    if not put(item):
                        return
        except BaseException as exc:  # noqa: BLE001 - handed to the runner's thread, which raises it
            put(_Failed(exc))
            return
        put(_END)

    worker = threading.Thread(target=work, name="siyu-import-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()  # the runner stopped (done, failed, superseded): the reader ends without finishing the file
        worker.join()


def _chunks(records: Iterator[readers.Record], skip: int, size: int,
            prepare: Callable[[readers.Record], Any]) -> Iterator[tuple[Prepared, bool]]:
    chunk: Prepared = []
    for rec in records:
        if skip:
            skip -= 1
            continue
        chunk.append((rec, prepare(rec)))
        if len(chunk) >= size:
            yield chunk, False
            chunk = []
    yield chunk, True
