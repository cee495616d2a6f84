"""Exporting customers to CSV or XLSX, streamed, within what the actor may see.

* **Scope**: live profiles of ``Profile.objects.visible_to(actor)`` (organisation and data scope), read in
  keyset batches by id, each batch's identities and tags in one query each (no N+1, bounded memory).
* **Field security**: hidden standard and custom fields, identities and tags are left out as columns.
* **Masking**: identifiers and personal custom fields are masked (``138****8000``) unless the actor holds
  ``cdp.profile.unmask``; the export's audit entry says whether it was unmasked.
* **Formula injection**: every cell that a spreadsheet would evaluate (starting with = + - @ tab or CR) is
  prefixed with ``'`` (the platform's ``csv_safe``), and XLSX cells are written as text, never formulas.
* **Audit**: :func:`audit.services.record_export` is called before the first byte (in the request's
  transaction), with the row count, format and whether values were unmasked.

CSV streams as it reads. XLSX is a zip whose directory comes last, so openpyxl's write-only workbook spools
rows to a temporary file and the finished file is streamed from there: memory stays bounded, the first byte
comes when the sheet is complete.
"""

from __future__ import annotations

import csv
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from siyu.audit.services import record_export
from siyu.kernel import crypto
from siyu.kernel.actor import Actor
from siyu.kernel.errors import PermissionDenied, ValidationFailed
from siyu.platform.field_types.base import csv_safe
from siyu.platform.selectors import ObjectMeta, object_meta
from siyu.platform.serialization import standard_stored

from ..identifiers import MASK_KIND
from ..models import Identity, IdentityType, Profile, ProfileStatus, ProfileTag

OBJECT = "cdp.profile"
BATCH = 2000
STANDARD = ["id", "name", "kind", "gender", "birthday", "province", "city", "source", "channel", "lifecycle_stage",
            "owner_id", "created_at"]
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
BOM = "\ufeff"


@dataclass
class Export:
    chunks: Iterator[bytes]
    count: int
    content_type: str
    filename: str


def visible_profiles(actor: Actor):
    return Profile.objects.visible_to(actor).filter(status=ProfileStatus.ACTIVE)


def may_export(actor: Actor) -> bool:
    """Exporting is its own permission (a whole customer list leaves the system), on top of reading them."""
    return actor.can("cdp.profile.export") and actor.can("cdp.profile.read")


def export_profiles(*, actor: Actor, fmt: str, ip: str | None = None) -> Export:
    """Count, audit and return the streamed export of the customers the actor may see."""
    if not may_export(actor):
        raise PermissionDenied("missing permission cdp.profile.export", code="permission_denied")
    if fmt not in FORMATS:
        raise ValidationFailed("bad format", fields={"format": ["csv or xlsx"]})
    meta = object_meta(actor, OBJECT)
    columns = _columns(actor, meta)
    count = visible_profiles(actor).count()
    unmask = actor.can("cdp.profile.unmask")
    record_export(actor, OBJECT, count, fmt, ip=ip, unmasked=unmask, columns=[c.key for c in columns])
    rows = _rows(actor, meta, columns, unmask)
    chunks = _csv(columns, rows) if fmt == "csv" else _xlsx(columns, rows)
    return Export(chunks, count, FORMATS[fmt], f"customers.{fmt}")


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    kind: str  # "standard", "identity", "tags", "custom"


def _columns(actor: Actor, meta: ObjectMeta) -> list[Col]:
    hidden = actor.hidden_fields(OBJECT)
    cols = [Col(k, str(meta.standard_field(k).label) if meta.standard_field(k) else k, "standard")
            for k in STANDARD if k not in hidden and (k == "id" or meta.standard_field(k))]
    if "identities" not in hidden:
        cols += [Col(t.value, gettext(t.label), "identity") for t in IdentityType]
    if "tags" not in hidden:
        cols.append(Col("tags", gettext("Tags"), "tags"))
    cols += [Col(fd.key, fd.label, "custom") for fd in meta.fields if fd.key not in hidden]
    return cols


def _rows(actor: Actor, meta: ObjectMeta, columns: list[Col], unmask: bool) -> Iterator[list[str]]:
    qs = visible_profiles(actor).order_by("pk")
    want_ids = any(c.kind == "identity" for c in columns)
    want_tags = any(c.kind == "tags" for c in columns)
    last = 0
    while True:
        batch = list(qs.filter(pk__gt=last)[:BATCH])
        if not batch:
            return
        last = batch[-1].pk
        pids = [p.pk for p in batch]
        ids: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        if want_ids:
            for pid, t, ns, value in Identity.objects.in_org(actor).filter(profile_id__in=pids).order_by(
                    "pk").values_list("profile_id", "type", "namespace", "value"):
                plain = crypto.decrypt(value, context=f"cdp.identity.{t}")
                shown = plain if unmask else crypto.mask(plain, MASK_KIND.get(t, "text"))
                ids[pid][t].append(f"{ns}:{shown}" if ns else shown)
        tags: dict[int, list[str]] = defaultdict(list)
        if want_tags:
            for pid, group, name in ProfileTag.objects.in_org(actor).filter(profile_id__in=pids).order_by(
                    "tag__group__name", "tag__name").values_list("profile_id", "tag__group__name", "tag__name"):
                tags[pid].append(f"{group}/{name}")
        for p in batch:
            yield [_cell(actor, meta, p, c, ids, tags, unmask) for c in columns]


def _cell(actor: Actor, meta: ObjectMeta, p: Profile, col: Col, ids, tags, unmask: bool) -> str:
    if col.kind == "identity":
        text = "; ".join(ids[p.pk].get(col.key, []))
    elif col.kind == "tags":
        text = "; ".join(tags[p.pk])
    elif col.kind == "custom":
        fd = meta.custom_field(col.key)
        stored = (p.custom or {}).get(col.key)
        return "" if stored is None else meta.type_of(fd.type).export(stored, meta.spec(fd), unmask=unmask)
    elif col.key == "id":
        text = str(p.pk)
    else:
        sf = meta.standard_field(col.key)
        ft, spec, stored = standard_stored(meta, sf, p)
        return "" if stored is None else ft.export(stored, spec, unmask=unmask)
    return csv_safe(text)


class _Line:
    def write(self, value: str) -> str:
        return value


def _csv(columns: list[Col], rows: Iterator[list[str]]) -> Iterator[bytes]:
    writer = csv.writer(_Line())
    yield (BOM + writer.writerow([csv_safe(c.label) for c in columns])).encode()
    buf: list[str] = []
    for row in rows:
        buf.append(writer.writerow(row))
        if len(buf) >= 500:
            yield "".join(buf).encode()
            buf.clear()
    if buf:
        yield "".join(buf).encode()


def _xlsx(columns: list[Col], rows: Iterator[list[str]]) -> Iterator[bytes]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("customers")

    def text_cells(values: list[Any]) -> list[WriteOnlyCell]:
        out = []
        for v in values:
            cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", str(v)))
            cell.data_type = "s"  # a string, never a formula, whatever it starts with
            out.append(cell)
        return out

    ws.append(text_cells([csv_safe(c.label) for c in columns]))
    for row in rows:
        ws.append(text_cells(row))
    with tempfile.TemporaryFile() as fh:
        wb.save(fh)
        fh.seek(0)
        yield from iter(lambda: fh.read(1 << 16), b"")
