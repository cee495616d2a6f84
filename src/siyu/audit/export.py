"""CSV export of audit entries, streamed, with spreadsheet formula injection neutralised."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator

from .models import AuditLogEntry

COLUMNS = [
    "id", "seq", "at", "action", "object_type", "object_id", "actor_user_id", "actor_api_key_id", "actor_label",
    "ip", "changes", "meta", "prev_hash", "hash",
]
# A cell a spreadsheet would evaluate (=, +, -, @, and tab/CR that some apps strip first): OWASP CSV injection.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # so spreadsheet software on Chinese Windows reads UTF-8


def neutralise(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _cells(e: AuditLogEntry) -> list[str]:
    values = {
        "id": e.pk, "seq": e.seq, "at": e.at.isoformat(), "action": e.action, "object_type": e.object_type,
        "object_id": e.object_id, "actor_user_id": e.actor_user_id, "actor_api_key_id": e.actor_api_key_id,
        "actor_label": e.actor_label, "ip": e.ip,
        "changes": json.dumps(e.changes, ensure_ascii=False, sort_keys=True),
        "meta": json.dumps(e.meta, ensure_ascii=False, sort_keys=True), "prev_hash": e.prev_hash, "hash": e.hash,
    }
    return [neutralise(values[c]) for c in COLUMNS]


class _Line:
    """csv.writer target that hands back what was written instead of buffering it."""

    def write(self, value: str) -> str:
        return value


def csv_lines(entries: Iterable[AuditLogEntry]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield BOM + writer.writerow(COLUMNS)
    for entry in entries:
        yield writer.writerow(_cells(entry))
