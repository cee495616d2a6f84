"""Demo data: one corp "示例科技 WeCom" with a few employees, a tag group and a customer group, and one official
account; and ``populate`` for bulk customers (the full-sync measurement), inserted without callbacks as data that
existed before Siyu was connected."""

from __future__ import annotations

import time
from typing import Any

from siyu.channels.wecom.simulator import actions, ids
from siyu.channels.wecom.simulator.actions import Sim
from siyu.channels.wecom.simulator.state import (
    add_department,
    add_employee,
    create_corp,
    create_oa,
    credentials,
    set_callback_url,
    set_oa_callback_url,
)

DEMO_CORP = "示例科技 WeCom"
DEMO_OA = "示例科技服务号"
EMPLOYEES = (
    ("zhangwei", "张伟", 2, "销售顾问"),
    ("liuyang", "刘洋", 2, "销售顾问"),
    ("chenjing", "陈静", 3, "客服专员"),
    ("zhaolei", "赵磊", 3, "客服主管"),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


def seed_demo(
    sim: Sim, *, callback_url: str = "", oa_callback_url: str = "", corp_id: str | None = None
) -> dict[str, Any]:
    """Create the demo corp and official account once; later calls return the same credentials (and update the
    callback URLs when given)."""
    store = sim.store
    row = store.one("SELECT * FROM corps WHERE name = ?", DEMO_CORP)
    if row is None:
        creds = create_corp(store, name=DEMO_CORP, corp_id=corp_id, callback_url=callback_url)
        cid = creds.corp_id
        add_department(store, cid, dept_id=2, name="销售部")
        add_department(store, cid, dept_id=3, name="客服部")
        for userid, name, dept, position in EMPLOYEES:
            add_employee(store, cid, userid=userid, name=name, department=[dept], position=position)
        now = int(sim.now())
        with store.tx() as db:
            group_id = ids.tag_id()
            db.execute("INSERT INTO tag_groups (corp_id, group_id, name, create_time) VALUES (?, ?, ?, ?)",
                       (cid, group_id, "客户等级", now))  # fmt: skip
            for order, name in enumerate(("A 级", "B 级", "C 级")):
                db.execute('INSERT INTO tags (corp_id, tag_id, group_id, name, "order", create_time) VALUES (?, ?, ?, ?, ?, ?)',
                           (cid, ids.tag_id(), group_id, name, 3 - order, now))  # fmt: skip
            chat = ids.chat_id()
            db.execute("INSERT INTO group_chats (corp_id, chat_id, name, owner, create_time) VALUES (?, ?, ?, ?, ?)",
                       (cid, chat, "示例科技客户交流群", "zhangwei", now))  # fmt: skip
            db.execute("INSERT INTO group_members (corp_id, chat_id, userid, type, join_time, join_scene) VALUES "
                       "(?, ?, 'zhangwei', 1, ?, 1)", (cid, chat, now))  # fmt: skip
    else:
        cid = row["corp_id"]
        if callback_url:
            set_callback_url(store, cid, callback_url)
    oa = store.one("SELECT * FROM oa_accounts WHERE name = ?", DEMO_OA)
    if oa is None:
        create_oa(store, name=DEMO_OA, callback_url=oa_callback_url)
    elif oa_callback_url:
        set_oa_callback_url(store, oa["appid"], oa_callback_url)
    corp = credentials(store.one("SELECT * FROM corps WHERE corp_id = ?", cid))
    oa = store.one("SELECT * FROM oa_accounts WHERE name = ?", DEMO_OA)
    return {
        "corp": corp.__dict__,
        "official_account": {
            k: oa[k] for k in ("appid", "name", "secret", "token", "aes_key", "original_id", "callback_url")
        },
        "employees": [userid for userid, *_ in EMPLOYEES],
    }


def populate(sim: Sim, *, corp_id: str, customers: int, batch: int = 5000) -> int:
    """Add ``customers`` WeChat users, each following one active employee (round robin), with no callbacks."""
    store = sim.store
    members = [r["userid"] for r in store.all("SELECT userid FROM employees WHERE corp_id = ? AND status = 1 AND "
                                             "contact_enabled = 1 ORDER BY userid", corp_id)]  # fmt: skip
    if not members:
        raise actions.ActionError("the corp has no active employee with customer contact")
    now = sim.now()
    done = 0
    start = int(time.time() * 1000)
    while done < customers:
        n = min(batch, customers - done)
        people, contacts, follows = [], [], []
        for i in range(done, done + n):
            union = f"oPop{start}x{i:08d}"
            name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)]
            external = ids.external_userid(corp_id, union)
            people.append((union, name))
            contacts.append((corp_id, external, union, name, now))
            follows.append((corp_id, members[i % len(members)], external, int(now) - i, "populate"))
        with store.tx() as db:
            db.executemany("INSERT OR IGNORE INTO wechat_users (unionid, name) VALUES (?, ?)", people)
            db.executemany("INSERT OR IGNORE INTO external_contacts (corp_id, external_userid, unionid, name, created_at) "
                           "VALUES (?, ?, ?, ?, ?)", contacts)  # fmt: skip
            db.executemany("INSERT OR IGNORE INTO follows (corp_id, userid, external_userid, createtime, add_way, state) "
                           "VALUES (?, ?, ?, ?, 1, ?)", follows)  # fmt: skip
        done += n
    return done
