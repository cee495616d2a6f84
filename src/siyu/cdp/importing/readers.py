"""Reading uploaded customer files: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) and spreadsheets (XLSX, XLS, ODS
through python-calamine), as a header plus records of text cells.

**Encoding detection is a strict try-decode order, not a statistical guess** (no charset-normalizer: its guesses
on short Chinese files are not reproducible enough to promise "this file is GBK"):

1. a UTF-8 byte-order mark means ``utf-8-sig``; a UTF-16/32 mark is refused with a reason (save as UTF-8);
2. the first ``SAMPLE_BYTES`` (cut at a line end) are split into lines and each line is tried strictly as UTF-8,
   then as GBK, then as GB18030 (the superset);
3. no line needs anything but UTF-8: ``utf-8``. Otherwise the file is GBK (or GB18030 when some line needs
   it) if those lines outnumber the UTF-8-only ones, else UTF-8. A file whose sample is mostly undecodable
   is not text and is refused.

Then every physical line is decoded strictly in the file's encoding. A line that does not decode, or (in a
GBK file) a non-ASCII line that is valid UTF-8, marks its record as a **mixed-encoding row**: that row gets a
per-row reason and is not imported, the rest of the file is.

Per-file refusals (``FileRejected``, a 422 with ``fields={"file": [reason]}``): empty file, larger than the cap,
binary content that is neither CSV nor a spreadsheet, a spreadsheet that cannot be opened, no header row.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from siyu.kernel.errors import ValidationFailed

SAMPLE_BYTES = 1 << 20
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# calamine holds a whole sheet in memory (about 30 bytes a cell): a lower cap keeps a worker well under 512 MB.
DEFAULT_MAX_SHEET_BYTES = 48 * 1024 * 1024
MAX_COLUMNS = 200
MAX_CELL_CHARS = 10_000
DELIMITERS = (",", "\t", ";", "|")
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
ENCODING_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "gbk": "GBK", "gb18030": "GB18030", "": ""}


class FileRejected(ValidationFailed):
    """The whole file cannot be imported; the reason is for the person who uploaded it."""

    code = "file_rejected"

    def __init__(self, reason: str):
        super().__init__(reason, fields={"file": [reason]})


def max_bytes(kind: str = "csv") -> int:
    if kind == "sheet":
        return int(getattr(settings, "SIYU_IMPORT_MAX_SHEET_BYTES", DEFAULT_MAX_SHEET_BYTES))
    return int(getattr(settings, "SIYU_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


@dataclass(frozen=True)
class FileInfo:
    kind: str  # "csv" or "sheet"
    encoding: str  # csv only: utf-8 / utf-8-sig / gbk / gb18030
    delimiter: str
    size: int
    sha256: str

    @property
    def encoding_label(self) -> str:
        return ENCODING_LABELS.get(self.encoding, self.encoding)


@dataclass
class Record:
    """One data row: its line (CSV) or row (sheet) number as a person would find it, and its cells."""

    line: int
    cells: list[str]
    problem: str = ""  # a reason the whole row cannot be read (mixed encoding, a cell too long)
    blank: bool = False


@dataclass
class Table:
    info: FileInfo
    header: list[str]
    records: Iterator[Record] = field(repr=False)


# --- detection -------------------------------------------------------------------------------------------


def _try(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(sample: bytes) -> str:
    """The encoding of a CSV file from its first bytes, by the strict order in the module docstring."""
    if sample.startswith(UTF8_BOM):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")) or sample.startswith(UTF16_BOMS):
        raise FileRejected("the file is UTF-16 or UTF-32 text: save it as CSV UTF-8 (or GBK) and upload again")
    cut = sample.rfind(b"\n")
    lines = (sample[: cut + 1] if 0 <= cut < len(sample) - 1 else sample).split(b"\n")
    utf8_only = gbk = gb18030 = bad = 0
    for line in lines:
        if line.isascii():
            continue
        if _try(line, "utf-8"):
            utf8_only += 1
        elif _try(line, "gbk"):
            gbk += 1
        elif _try(line, "gb18030"):
            gb18030 += 1
        else:
            bad += 1
    if bad > utf8_only + gbk + gb18030:
        raise FileRejected("the file is not text in UTF-8 or GBK/GB18030 (is it a CSV file?)")
    if gbk + gb18030 == 0:
        return "utf-8"
    if gbk + gb18030 > utf8_only:
        return "gb18030" if gb18030 else "gbk"
    return "utf-8"


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def inspect(path: Path) -> FileInfo:
    """What the file is (CSV with its encoding, or a spreadsheet), refusing what cannot be imported."""
    size = path.stat().st_size
    if size == 0:
        raise FileRejected("the file is empty (0 bytes)")
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    if head.startswith((ZIP_MAGIC, OLE_MAGIC)):
        if size > max_bytes("sheet"):
            raise FileRejected(f"the spreadsheet is larger than {max_bytes('sheet') // (1024 * 1024)} MB: "
                               f"save it as CSV (up to {max_bytes() // (1024 * 1024)} MB)")
        return FileInfo("sheet", "", "", size, _sha256(path))
    if size > max_bytes():
        raise FileRejected(f"the file is larger than {max_bytes() // (1024 * 1024)} MB")
    if head.startswith(UTF16_BOMS) or head.startswith(b"\x00\x00\xfe\xff"):
        detect_encoding(head)  # refuses with its own reason
    if b"\x00" in head[:65536]:
        raise FileRejected("the file is binary, not CSV text or an XLSX/XLS spreadsheet")
    encoding = detect_encoding(head)
    first = head.split(b"\n", 1)[0]
    try:
        header_line = first.decode(encoding)
    except UnicodeDecodeError:
        raise FileRejected(f"the header line is not valid {ENCODING_LABELS[encoding]}") from None
    return FileInfo("csv", encoding, _sniff_delimiter(header_line), size, _sha256(path))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- reading ---------------------------------------------------------------------------------------------


def open_table(path: Path, info: FileInfo | None = None) -> Table:
    """The header and a lazy iterator of records (call again to read from the start)."""
    info = info or inspect(path)
    rows = _sheet_rows(path) if info.kind == "sheet" else _csv_rows(path, info)
    header = None
    for first in rows:
        if first.problem:
            raise FileRejected(f"the header row cannot be read: {first.problem}")
        if not first.blank:
            header = first.cells
            break
    if not header:
        raise FileRejected("the file has no header row")
    if len(header) > MAX_COLUMNS:
        raise FileRejected(f"the file has {len(header)} columns; at most {MAX_COLUMNS} can be imported")
    return Table(info, _unique_header(header), rows)


def _unique_header(cells: list[str]) -> list[str]:
    out: list[str] = []
    for n, cell in enumerate(cells, 1):
        name = " ".join(cell.split())[:100] or f"column {n}"
        base, k = name, 2
        while name in out:
            name, k = f"{base} ({k})", k + 1
        out.append(name)
    return out


class _Lines:
    """Decoded physical lines for ``csv.reader``, remembering which lines were not in the file's encoding."""

    def __init__(self, fh, encoding: str):
        self.fh, self.bad_lines = fh, set()
        self.bom = encoding == "utf-8-sig"
        self.encoding = "utf-8" if self.bom else encoding
        self.gb = encoding in ("gbk", "gb18030")
        self.n = 0

    def __iter__(self):
        encoding, gb = self.encoding, self.gb
        for raw in self.fh:
            self.n += 1
            if self.n == 1 and self.bom:
                raw = raw.removeprefix(UTF8_BOM)
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                self.bad_lines.add(self.n)
                text = raw.decode(encoding, errors="replace")
            else:
                if gb and not raw.isascii() and _try(raw, "utf-8"):
                    self.bad_lines.add(self.n)  # UTF-8 text inside a GBK file: mojibake if decoded as GBK
            yield text


def _csv_rows(path: Path, info: FileInfo) -> Iterator[Record]:
    label = ENCODING_LABELS[info.encoding]
    with path.open("rb") as fh:
        lines = _Lines(fh, info.encoding)
        reader = csv.reader(lines, delimiter=info.delimiter, strict=False)
        start = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a NUL byte or a field over csv's limit
                end = reader.line_num
                yield Record(start, [], problem=f"the row cannot be read as CSV ({exc})")
                start = end + 1
                continue
            end = reader.line_num
            rec = Record(start, cells)
            if lines.bad_lines and any(n in lines.bad_lines for n in range(start, end + 1)):
                rec.problem = f"the row is not valid {label} text (the file mixes encodings)"
                lines.bad_lines.difference_update(range(start, end + 1))
            elif not any(c.strip() for c in cells):
                rec.blank = True
            elif any(len(c) > MAX_CELL_CHARS for c in cells):
                rec.problem = f"a cell is longer than {MAX_CELL_CHARS} characters"
            yield rec
            start = end + 1


def cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV of it would hold (13800138000.0 -> "13800138000", dates ISO)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e18 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _sheet_rows(path: Path) -> Iterator[Record]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = workbook.sheet_names
        if not names:
            raise FileRejected("the spreadsheet has no sheet")
        sheet = workbook.get_sheet_by_name(names[0])
        rows = sheet.iter_rows()
    except FileRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - calamine raises several error types for a broken file
        raise FileRejected(f"the spreadsheet cannot be read ({str(exc)[:200]})") from None
    start = sheet.start[0] + 1 if sheet.start else 1
    for n, values in enumerate(rows, start):
        cells = [cell_text(v) for v in values]
        rec = Record(n, cells)
        if not any(c.strip() for c in cells):
            rec.blank = True
        elif any(len(c) > MAX_CELL_CHARS for c in cells):
            rec.problem = f"a cell is longer than {MAX_CELL_CHARS} characters"
        yield rec


def preview(path: Path, info: FileInfo | None = None, rows: int = 10) -> tuple[Table, list[Record]]:
    """The header and the first ``rows`` non-blank records (for the mapping screen)."""
    table = open_table(path, info)
    first: list[Record] = []
    for rec in table.records:
        if rec.blank:
            continue
        first.append(rec)
        if len(first) >= rows:
            break
    return table, first


def count_lines(path: Path) -> int:
    """Physical lines after the header: the row total shown while the import runs (exact unless quoted cells
    hold line breaks; the finished job stores the exact count)."""
    n, last = 0, b"\n"
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            n += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        n += 1
    return max(n - 1, 0)
