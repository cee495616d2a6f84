from __future__ import annotations

from import_support import counts, csv_bytes, customers

from siyu.cdp.models import ImportJob


def test_import_creates_dedups_and_fills(admin_actor, make_job, run_import):
    rows = [
        ["张伟", "138 0013 8001", "zw@example.cn", "男", "1990-01-31", "上海", "VIP,新品", "x"],
        ["", "+86-138-0013-8001", "", "", "", "", "VIP", ""],  # same customer by phone
        ["李娜", "13900139002", "LN@Example.cn", "女", "1991/2/3", "", "", ""],
        ["李娜二", "", "ln@example.cn", "", "", "北京", "", ""],  # same customer by email; city filled
        ["坏", "12345", "", "", "", "", "", ""],  # bad phone
    ]
    job = make_job(admin_actor, csv_bytes(rows))
    run_import(admin_actor, job)
    assert counts(job) == {"status": ImportJob.Status.DONE, "done": 5, "created": 2, "merged": 2, "errors": 1,
                           "updated": 0, "profiles_merged": 0, "reviews": 0, "duplicates": 2, "skipped": 0}
    assert customers(admin_actor) == [
        ("active", "张伟", "male", "1990-01-31", "上海", "import", (("email", "zw@example.cn"),
                                                               ("phone", "+8613800138001")),
         ("导入/VIP", "导入/新品"), (), 2),
        ("active", "李娜", "female", "1991-02-03", "北京", "import", (("email", "ln@example.cn"),
                                                               ("phone", "+8613900139002")), (), (), 2),
    ]
