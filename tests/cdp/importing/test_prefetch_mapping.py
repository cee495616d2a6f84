"""Which mappings convert in the reading thread, and custom values arrive the same either way."""

from __future__ import annotations

from import_support import HEADER, MAPPING, csv_bytes, customers

from siyu.cdp.importing import prefetch
from siyu.cdp.importing.mapping import compile_mapping
from siyu.platform import services as platform


def _mapping(extra: dict) -> dict:
    return {"columns": {**MAPPING["columns"], "备注": "skip", **extra}}


def test_a_field_type_that_checks_the_database_keeps_conversion_in_the_runner(admin_actor, make_job, run_import):
    platform.create_field(actor=admin_actor, object_key="cdp.profile", key="level", label="等级", type="text")
    platform.create_field(actor=admin_actor, object_key="cdp.profile", key="advisor", label="顾问", type="user")
    header = [*HEADER, "顾问"]
    plain = compile_mapping(admin_actor, _mapping({"备注": "custom:level"}), header)
    checked = compile_mapping(admin_actor, _mapping({"备注": "custom:level", "顾问": "custom:advisor"}), header)
    assert not prefetch.needs_database(plain)
    assert prefetch.needs_database(checked)

    me = admin_actor.user_id
    rows = [["张伟", "13800138001", "", "", "", "", "", "金卡", str(me)],
            ["李娜", "13800138002", "", "", "", "", "", "", "999999"]]
    job = make_job(admin_actor, csv_bytes(rows, header=header),
                   mapping=_mapping({"备注": "custom:level", "顾问": "custom:advisor"}))
    job = run_import(admin_actor, job)
    assert job.error_count == 1  # no such user: checked in the runner's transaction
    assert [(c[1], dict(c[-2])) for c in customers(admin_actor)] == [("张伟", {"advisor": me, "level": "金卡"})]


def test_custom_text_values_arrive_through_the_reading_thread(admin_actor, make_job, run_import):
    platform.create_field(actor=admin_actor, object_key="cdp.profile", key="level", label="等级", type="text")
    rows = [[f"客户{n}", f"1380013{n:04d}", "", "", "", "", "", f"L{n % 3}"] for n in range(12)]
    job = make_job(admin_actor, csv_bytes(rows), mapping=_mapping({"备注": "custom:level"}))
    run_import(admin_actor, job, chunk_rows=5)
    got = {c[1]: dict(c[-2]) for c in customers(admin_actor)}
    assert got == {f"客户{n}": {"level": f"L{n % 3}"} for n in range(12)}
