"""The per-row error report: a CSV (UTF-8 with BOM, so spreadsheet software on Chinese Windows opens it) with
the row's line, the reasons and the row's original cells, formula-neutralised like every export.

It is written beside the upload and grows chunk by chunk: a chunk's lines are written and fsync'ed *before*
the chunk's transaction commits, and the job stores how many lines it has committed. A run killed between
the two leaves lines the job does not count; :meth:`ErrorReport.open` cuts the file back to the committed
count before a resumed run appends, so the report of a resumed import equals that of an uninterrupted one.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from siyu.platform.field_types.base import csv_safe

BOM = "\ufeff"
FIXED = ["line", "reason"]


def storage_dir(org_id: int) -> Path:
    """Where an organisation's uploads and error reports live (``SIYU_IMPORT_DIR``, default ``var/imports``)."""
    base = Path(getattr(settings, "SIYU_IMPORT_DIR", "") or settings.VAR_DIR / "imports")
    return base / str(org_id)


class ErrorReport:
    def __init__(self, path: Path, header: list[str]):
        self.path = path
        self.header = header
        self._pending: list[list[str]] = []

    def open(self, committed: int) -> None:
        """Start a fresh report (``committed`` 0) or cut an existing one back to ``committed`` lines."""
        if committed == 0 or not self.path.exists():
            self._rewrite([])
            return
        kept = []
        with self.path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for row in reader:
                if len(kept) >= committed:
                    break
                kept.append(row)
        self._rewrite(kept)

    def _rewrite(self, rows: list[list[str]]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            fh.write(BOM)
            writer = csv.writer(fh)
            writer.writerow([csv_safe(c) for c in FIXED + self.header])
            writer.writerows(rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def add(self, line: int, reason: str, cells: list[str]) -> None:
        self._pending.append([str(line), csv_safe(reason), *(csv_safe(c) for c in cells)])

    def flush(self) -> int:
        """Append the pending lines durably; returns how many."""
        n = len(self._pending)
        if n:
            with self.path.open("a", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(self._pending)
                fh.flush()
                os.fsync(fh.fileno())
            self._pending.clear()
        return n

    def discard(self) -> None:
        self._pending.clear()


def read_chunks(path: Path, size: int = 1 << 16) -> Iterator[bytes]:
    """The report's bytes, for a streamed download."""
    with path.open("rb") as fh:
        yield from iter(lambda: fh.read(size), b"")
