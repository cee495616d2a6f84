"""Bad files and bad rows: each gets a clear per-file or per-row reason, and nothing of a rejected row is kept."""

from __future__ import annotations

import io

import pytest
from import_support import HEADER, MAPPING, counts, csv_bytes, customers
from openpyxl import Workbook

from siyu.cdp.identifiers import normalise
from siyu.cdp.importing import readers
from siyu.cdp.importing.identities import fast_phone
from siyu.cdp.models import ImportJob
from siyu.kernel.errors import ValidationFailed


def _report(job) -> list[str]:
    job.refresh_from_db()
    return open(job.error_file_path, encoding="utf-8-sig").read().splitlines()[1:]


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "the file is empty (0 bytes)"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "the file is binary, not CSV text or an XLSX/XLS spreadsheet"),
    ("姓名,手机\n张三,13800138000\n".encode("utf-16"),
     "the file is UTF-16 or UTF-32 text: save it as CSV UTF-8 (or GBK) and upload again"),
    (bytes(range(128, 256)) * 40, "the file is not text in UTF-8 or GBK/GB18030 (is it a CSV file?)"),
    (b"PK\x03\x04not really a zip", None),
    (b"\n\n\n", "the file has no header row"),
])
def test_files_that_cannot_be_imported(admin_actor, make_job, data, reason):
    with pytest.raises(ValidationFailed) as exc:
        make_job(admin_actor, data, mapping=None)
    assert exc.value.code == "file_rejected"
    if reason:
        assert exc.value.fields == {"file": [reason]}
    else:
        assert exc.value.fields["file"][0].startswith("the spreadsheet cannot be read")
    assert ImportJob.objects.in_org(admin_actor).count() == 0


def test_oversize_file_is_refused_and_not_kept(admin_actor, make_job, settings, tmp_path):
    settings.SIYU_IMPORT_MAX_BYTES = 100
    with pytest.raises(ValidationFailed) as exc:
        make_job(admin_actor, csv_bytes([["x", "13800138001"] + [""] * 6] * 10), mapping=None)
    assert exc.value.fields == {"file": ["the file is larger than 0 MB"]}
    assert not any(p.is_file() for p in (tmp_path / "imports").rglob("*"))


@pytest.mark.parametrize(("encoding", "bom", "label"), [("utf-8", False, "utf-8"), ("utf-8", True, "utf-8-sig"),
                                                        ("gbk", False, "gbk"), ("gb18030", False, "gb18030")])
def test_encodings(admin_actor, make_job, run_import, encoding, bom, label):
    name = "张伟𠀀" if encoding == "gb18030" else "张伟"  # a character only GB18030 (and UTF-8) can hold
    job = make_job(admin_actor, csv_bytes([[name, "13800138001", "", "男", "", "上海", "", ""]], encoding=encoding,
                                          bom=bom))
    assert job.encoding == label
    run_import(admin_actor, job)
    assert [c[1] for c in customers(admin_actor)] == [name]


def test_mixed_encodings_reject_the_odd_rows(admin_actor, make_job, run_import):
    utf8 = csv_bytes([["张伟", "13800138001", "", "", "", "上海", "", ""],
                      ["李娜", "13800138002", "", "", "", "北京", "", ""]])
    gbk_line = "王芳,13800138003,,,,广州,,\n".encode("gbk")
    job = make_job(admin_actor, utf8 + gbk_line)
    run_import(admin_actor, job)
    assert [c[1] for c in customers(admin_actor)] == ["张伟", "李娜"]
    assert counts(job)["errors"] == 1
    assert _report(job)[0].startswith("4,the row is not valid UTF-8 text (the file mixes encodings)")

    gbk = csv_bytes([["张伟", "13900139001", "", "", "", "上海", "", ""],
                     ["李娜", "13900139002", "", "", "", "北京", "", ""]], encoding="gbk")
    job = make_job(admin_actor, gbk + "王芳,13900139003,,,,广州,,\n".encode())
    assert job.encoding == "gbk"
    run_import(admin_actor, job)
    assert counts(job)["errors"] == 1 and counts(job)["created"] == 2
    assert _report(job)[0].startswith("4,the row is not valid GBK text (the file mixes encodings)")


def test_bad_rows_are_rejected_whole_with_reasons(admin_actor, make_job, run_import):
    rows = [
        ["张伟", "13800138001", "zw@", "男", "1990-01-01", "上海", "VIP", ""],  # bad email: nothing kept
        ["李娜", "13800138002", "", "x", "1990-13-45", "北京", "", ""],  # two bad cells
        ["王芳", "13800138003", "", "", "", ""],  # too few columns
        ["赵六", "13800138004", "", "", "", "", "", "", "extra"],  # too many columns
        ["钱七", "", "", "", "", "杭州", "", ""],  # no identifier
        ["", "", "", "", "", "", "", ""],  # blank: skipped
        ["孙八", "13800138005", "", "", "", "", "", "", ""],  # an empty trailing cell is tolerated
    ]
    job = make_job(admin_actor, csv_bytes(rows))
    run_import(admin_actor, job)
    assert counts(job) == {"status": "done", "done": 7, "created": 1, "merged": 0, "errors": 5, "updated": 0,
                           "profiles_merged": 0, "reviews": 0, "duplicates": 0, "skipped": 1}
    assert [c[1] for c in customers(admin_actor)] == ["孙八"]
    assert _report(job) == [
        "2,邮箱: not an e-mail address,张伟,13800138001,zw@,男,1990-01-01,上海,VIP,",
        "3,\"性别: 男/女/未知 or male/female/unknown; 生日: a date such as 1990-01-31, 1990/1/31 or 1990年1月31日\","
        "李娜,13800138002,,x,1990-13-45,北京,,",
        "4,\"expected 8 columns, found 6\",王芳,13800138003,,,,",
        "5,\"expected 8 columns, found 9\",赵六,13800138004,,,,,,,extra",
        "6,\"no identifier (phone, email or id) to match the customer by\",钱七,,,,,杭州,,",
    ]


def test_formula_payloads_are_stored_as_text_and_neutralised_in_the_report(admin_actor, make_job, run_import):
    payload = "=HYPERLINK(\"http://evil.example\",\"x\")"
    job = make_job(admin_actor, csv_bytes([[payload, "13800138001", "", "", "", "+上海", "", ""],
                                           ["-2+3", "13800138002", "@bad", "", "", "", "", ""]]))
    run_import(admin_actor, job)
    assert [(c[1], c[4]) for c in customers(admin_actor)] == [(payload, "+上海")]
    assert _report(job) == ["3,邮箱: not an e-mail address,'-2+3,13800138002,'@bad,,,,,"]


PHONES = ["13800138001", "138 0013 8001", "138-0013-8001", "+86 138 0013 8001", "+86-138-0013-8001",
          "+8613800138001", "008613800138001", "0086 138 0013 8001", "8613800138001", "86 13800138001",
          "(+86) 138 0013 8001", "１３８００１３８００１", "+86 (138) 0013-8001", " 13800138001 ", "138.0013.8001"]


def test_every_chinese_phone_format_is_one_customer(admin_actor, make_job, run_import):
    rows = [[f"p{n}", p, "", "", "", "", "", ""] for n, p in enumerate(PHONES)]
    rows += [["座机", "010-6552 9988", "", "", "", "", "", ""], ["坏", "1380013800", "", "", "", "", "", ""]]
    job = make_job(admin_actor, csv_bytes(rows))
    run_import(admin_actor, job)
    got = customers(admin_actor)
    assert [(c[1], c[6]) for c in got] == [("p0", (("phone", "+8613800138001"),)),
                                           ("座机", (("phone", "+861065529988"),))]
    assert counts(job)["merged"] == len(PHONES) - 1 and counts(job)["errors"] == 1


@pytest.mark.parametrize("raw", [*PHONES, "19912345678", "17400012345", "14012345678", "+1 650 253 0000",
                                 "+86 10 6552 9988", "86 138", "0086", "8613800138001x"])
def test_fast_phone_agrees_with_the_identifier_rules(raw):
    try:
        expected = normalise("phone", raw).value
    except ValidationFailed:
        expected = None
    fast = fast_phone(raw)
    assert fast is None or fast == expected


def test_xlsx_with_numbers_and_dates(admin_actor, make_job, run_import):
    import datetime as dt

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(["张伟", 13800138001, "zw@example.cn", "男", dt.date(1990, 1, 31), "上海", "VIP", None])
    ws.append(["李娜", "139 0013 9002", None, "女", "1991/2/3", None, None, "=1+1"])
    buf = io.BytesIO()
    wb.save(buf)
    job = make_job(admin_actor, buf.getvalue(), name="客户.xlsx")
    assert job.encoding == "" and job.mapping["_file"]["kind"] == "sheet"
    run_import(admin_actor, job)
    got = customers(admin_actor)
    assert [(c[1], c[3], c[6]) for c in got] == [
        ("张伟", "1990-01-31", (("email", "zw@example.cn"), ("phone", "+8613800138001"))),
        ("李娜", "1991-02-03", (("phone", "+8613900139002"),))]


def test_detect_encoding_order():
    assert readers.detect_encoding(b"name,phone\n") == "utf-8"
    assert readers.detect_encoding("姓名\n张伟\n".encode("gbk")) == "gbk"
    assert readers.detect_encoding("姓名\n张伟\n".encode()) == "utf-8"
    assert readers.detect_encoding(b"\xef\xbb\xbfa\n") == "utf-8-sig"


def test_mapping_problems_are_named_per_column(admin_actor, make_job):
    job = make_job(admin_actor, csv_bytes([["张伟", "13800138001", "", "", "", "", "", ""]]), mapping=None)
    from siyu.cdp.importing import services

    bad = {"columns": {"姓名": "nickname", "手机": "identifier:openid", "没有": "name", "标签": "tag:",
                       "城市": "custom:nope"}}
    with pytest.raises(ValidationFailed) as exc:
        services.save_mapping(actor=admin_actor, job_id=job.pk, mapping=bad)
    assert exc.value.fields == {
        "姓名": ["unknown target (one of field, identifier, tag, custom, skip)"],
        "手机": ["this identifier type needs its WeCom corp id or WeChat app id as namespace"],
        "没有": ["no such column in the file"],
        "标签": ["name the tag group (1-80 characters)"],
        "城市": ["no custom field 'nope' on customers"],
    }
    with pytest.raises(ValidationFailed) as exc:
        services.save_mapping(actor=admin_actor, job_id=job.pk, mapping={"columns": {"姓名": "name"}})
    assert exc.value.fields == {"columns": ["map at least one column to an identifier (phone, email or an id) to "
                                            "find duplicates"]}
    assert MAPPING  # the shared mapping is the valid counterpart used everywhere else
