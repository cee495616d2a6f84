"""The console flow: upload, preview with the detected encoding, mapping screen, dry run, run, progress
partial polled by htmx, error report; another organisation's job is the 404 page."""

from __future__ import annotations

from unittest import mock

from django.core.files.uploadedfile import SimpleUploadedFile
from import_support import csv_bytes

from siyu.cdp.importing import runner
from siyu.cdp.models import ImportJob

ROWS = [["张伟", "13800138001", "zw@example.cn", "男", "1990-01-31", "上海", "VIP", ""],
        ["坏", "12345", "", "", "", "", "", ""]]


def test_console_import_flow(admin_membership, admin_actor, login_client, make_org, settings, tmp_path,
                             django_capture_on_commit_callbacks):
    settings.SIYU_IMPORT_DIR = str(tmp_path)
    client = login_client(admin_membership)
    page = client.get("/customers/import/")
    assert page.status_code == 200 and b'data-testid="cdp-imports-empty"' in page.content
    r = client.post("/customers/import/", {"file": SimpleUploadedFile("客户.csv", csv_bytes(ROWS, encoding="gbk"))})
    job = ImportJob.objects.in_org(admin_actor).get()
    assert r.status_code == 302 and r["Location"] == f"/customers/import/{job.pk}/"
    page = client.get(r["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="cdp-import-encoding">GBK<' in page and "13800138001" in page
    assert '<option value="identifier:phone" selected>' in page  # the suggested mapping

    form = {"column_0": "姓名", "target_0": "name", "column_1": "手机", "target_1": "identifier:phone",
            "column_2": "邮箱", "target_2": "identifier:email", "column_3": "性别", "target_3": "gender",
            "column_4": "生日", "target_4": "birthday", "column_5": "城市", "target_5": "city",
            "column_6": "标签", "target_6": "tag", "extra_6": "导入", "column_7": "备注", "target_7": "skip"}
    bad = client.post(f"/customers/import/{job.pk}/mapping/", {**form, "target_6": "tag", "extra_6": ""})
    assert bad.status_code == 422 and "name the tag group" in bad.content.decode()
    assert client.post(f"/customers/import/{job.pk}/mapping/", form).status_code == 302
    job.refresh_from_db()
    assert job.status == "mapped" and job.mapping["columns"]["标签"] == {"to": "tag", "group": "导入"}

    with mock.patch("siyu.cdp.importing.tasks.run_import") as task, \
            django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/customers/import/{job.pk}/run/").status_code == 302
    task.assert_called_once_with(admin_actor.org_id, job.pk)
    polling = client.get(f"/customers/import/{job.pk}/progress/").content.decode()
    assert 'hx-trigger="every 1s"' in polling and 'data-status="running"' in polling
    runner.run_job(actor=admin_actor, job_id=job.pk)
    done = client.get(f"/customers/import/{job.pk}/progress/").content.decode()
    assert "hx-trigger" not in done and 'data-status="done"' in done and 'data-testid="cdp-import-errors"' in done
    report = client.get(f"/customers/import/{job.pk}/errors/")
    assert b"".join(report.streaming_content).decode("utf-8-sig").splitlines()[1].startswith("3,")

    other = login_client(make_org("Other"))
    for url in (f"/customers/import/{job.pk}/", f"/customers/import/{job.pk}/progress/",
                f"/customers/import/{job.pk}/errors/"):
        assert other.get(url).status_code == 404
    assert other.post(f"/customers/import/{job.pk}/run/").status_code == 404
