"""The import API end to end: create from JSON or multipart, preview, mapping, dry run, run, progress, error
report; other organisations and members without the permission get nothing and change nothing."""

from __future__ import annotations

import base64
import json
from unittest import mock

from django.core.files.uploadedfile import SimpleUploadedFile
from import_support import HEADER, csv_bytes, customers

from siyu.cdp.importing import runner
from siyu.cdp.models import ImportJob

URL = "/api/v1/cdp/imports"
ROWS = [["张伟", "13800138001", "zw@example.cn", "男", "1990-01-31", "上海", "VIP", "=cmd|' /C calc'!A0"],
        ["", "138 0013 8001", "", "", "", "", "", ""],
        ["坏", "12345", "", "", "", "", "", ""]]
MAPPING = {"columns": {"姓名": "name", "手机": "identifier:phone", "邮箱": "identifier:email", "性别": "gender",
                       "生日": "birthday", "城市": "city", "标签": "tag:导入", "备注": "skip"}}


def _post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_json_upload_preview_mapping_dry_run_run_and_error_report(api, admin_actor, settings, tmp_path,
                                                                  django_capture_on_commit_callbacks):
    settings.SIYU_IMPORT_DIR = str(tmp_path)
    data = csv_bytes(ROWS, encoding="gbk")
    r = _post(api, URL, {"file_name": "客户.csv", "content": base64.b64encode(data).decode(),
                         "content_encoding": "base64"})
    assert r.status_code == 201, r.content
    job = r.json()
    assert (job["status"], job["encoding"], job["columns"], job["total_rows"]) == ("uploaded", "GBK", HEADER, 3)

    r = api.get(f"{URL}/{job['id']}/preview")
    assert r.status_code == 200
    preview = r.json()
    assert preview["rows"][0][:3] == ["张伟", "13800138001", "zw@example.cn"]
    assert preview["suggested"]["手机"] == "identifier:phone" and preview["suggested"]["姓名"] == "name"

    r = api.put(f"{URL}/{job['id']}/mapping", data=json.dumps({"columns": {"手机": "identifier:fax"}}),
                content_type="application/json")
    assert r.status_code == 422 and r.json()["fields"] == {"手机": ["unknown identifier type 'fax'"]}
    r = api.put(f"{URL}/{job['id']}/mapping", data=json.dumps(MAPPING), content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "mapped"

    with mock.patch("siyu.cdp.importing.tasks.run_import") as task, \
            django_capture_on_commit_callbacks(execute=True):
        r = api.post(f"{URL}/{job['id']}/dry-run")
    assert r.status_code == 202 and r.json()["status"] == "running" and r.json()["dry_run"] is True
    task.assert_called_once_with(admin_actor.org_id, job["id"])  # enqueued once the request commits
    runner.run_job(actor=admin_actor, job_id=job["id"])
    body = api.get(f"{URL}/{job['id']}").json()
    assert (body["status"], body["dry_run"], body["done_rows"]) == ("mapped", True, 3)
    assert {k: body["result"][k] for k in ("created", "merged", "errors")} == {"created": 1, "merged": 1, "errors": 1}
    assert customers(admin_actor) == []  # a dry run writes nothing

    r = api.post(f"{URL}/{job['id']}/run")
    assert r.status_code == 202
    assert api.post(f"{URL}/{job['id']}/run").status_code == 409  # already running
    runner.run_job(actor=admin_actor, job_id=job["id"])
    body = api.get(f"{URL}/{job['id']}").json()
    assert (body["status"], body["dry_run"], body["done_rows"], body["has_error_report"]) == ("done", False, 3, True)
    assert customers(admin_actor)[0][1:3] == ("张伟", "male")

    r = api.get(f"{URL}/{job['id']}/errors")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    report = b"".join(r.streaming_content).decode("utf-8-sig").splitlines()
    assert report == ["line,reason,姓名,手机,邮箱,性别,生日,城市,标签,备注",
                      "4,手机: not a valid phone number,坏,12345,,,,,,"]
    listing = api.get(URL).json()["items"]
    assert [j["id"] for j in listing] == [job["id"]]


def test_multipart_upload_and_refusals(api, admin_actor, settings, tmp_path):
    settings.SIYU_IMPORT_DIR = str(tmp_path)
    r = api.post(f"{URL}/upload", {"file": SimpleUploadedFile("a.csv", csv_bytes(ROWS, bom=True))})
    assert r.status_code == 201 and r.json()["encoding"] == "UTF-8 (BOM)"
    r = api.post(f"{URL}/upload", {"file": SimpleUploadedFile("empty.csv", b"")})
    assert r.status_code == 422
    assert r.json() == {"code": "file_rejected", "message": "the file is empty (0 bytes)",
                        "fields": {"file": ["the file is empty (0 bytes)"]}}
    assert ImportJob.objects.in_org(admin_actor).count() == 1
    assert sorted(p.name for p in (tmp_path / str(admin_actor.org_id)).iterdir() if p.is_dir()).__len__() == 1


def test_other_organisations_and_members_without_permission(api, api_client, make_org, admin_actor, member_with,
                                                             login_client, cdp_state, settings, tmp_path):
    settings.SIYU_IMPORT_DIR = str(tmp_path)
    job = _post(api, URL, {"file_name": "a.csv", "content": csv_bytes(ROWS).decode(), "mapping": MAPPING}).json()
    other = api_client(make_org("Other").org)
    before = cdp_state()
    for method, path in [("get", ""), ("get", "/preview"), ("get", "/errors"), ("post", "/run"),
                         ("post", "/dry-run")]:
        assert getattr(other, method)(f"{URL}/{job['id']}{path}").status_code == 404
    assert other.put(f"{URL}/{job['id']}/mapping", data=json.dumps(MAPPING),
                     content_type="application/json").status_code == 404
    assert other.get(URL).json()["items"] == []
    reader, _ = member_with("reader@acme.example", permissions=("cdp.profile.read",))
    client = login_client(reader)
    assert client.post(f"{URL}/{job['id']}/run").status_code == 403
    assert client.get(f"{URL}/{job['id']}").status_code == 403
    assert cdp_state() == before
