"""Helpers shared by the import tests (imported by name: conftest puts this folder on sys.path)."""

from __future__ import annotations

import csv
import io

from siyu.cdp.importing import runner
from siyu.cdp.models import Identity, ImportJob, Profile, ProfileTag
from siyu.kernel import crypto

HEADER = ["姓名", "手机", "邮箱", "性别", "生日", "城市", "标签", "备注"]
MAPPING = {"columns": {
    "姓名": "name", "手机": "identifier:phone", "邮箱": "identifier:email", "性别": "gender", "生日": "birthday",
    "城市": "city", "标签": "tag:导入", "备注": "skip"}}


def csv_bytes(rows, header=HEADER, encoding="utf-8", bom=False) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def customers(actor) -> list[tuple]:
    """Every live profile of the organisation as values: fields, identities in clear, tags, custom."""
    out = []
    for p in Profile.objects.in_org(actor).order_by("pk"):
        ids = sorted((i.type, crypto.decrypt(i.value, context=f"cdp.identity.{i.type}"))
                     for i in Identity.objects.in_org(actor).filter(profile=p))
        tags = sorted(f"{t.tag.group.name}/{t.tag.name}" for t in ProfileTag.objects.in_org(actor).filter(profile=p)
                      .select_related("tag__group"))
        out.append((p.status, p.name, p.gender, str(p.birthday or ""), p.city, p.source, tuple(ids), tuple(tags),
                    tuple(sorted(p.custom.items())), p.identity_count))
    return sorted(out)


def counts(job: ImportJob) -> dict:
    job.refresh_from_db()
    return {"status": job.status, "done": job.done_rows, **{k: v for k, v in runner.result_of(job).items()
                                                            if k != "failure"}}
