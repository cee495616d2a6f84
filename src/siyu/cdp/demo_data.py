"""Reproducible, realistic synthetic customers for demos and benchmarks (``siyu bench-data``).

Seeded: the same size and seed give the same names, numbers, ids and events. Sizes follow the performance
document: S = 100K profiles / 1M events, M = 1M / 10M; ``--profiles``/``--events`` override for small demos.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import connection, transaction

from siyu.kernel import clock, crypto
from siyu.kernel.actor import Actor

from . import consent, lifecycle
from .bulkload import copy_rows, next_ids
from .identifiers import Identifier

SIZES = {"XS": (2_000, 20_000), "S": (100_000, 1_000_000), "M": (1_000_000, 10_000_000), "L": (10_000_000, 100_000_000)}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力斌宇浩凯健俊帆晨欣怡佳琪雪梅婷颖昊然子轩梓涵一诺思远"
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
                   "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "185", "186", "187",
                   "188", "189", "191", "198", "199"]
PROVINCES = [("上海", "上海"), ("北京", "北京"), ("广东", "广州"), ("广东", "深圳"), ("浙江", "杭州"), ("江苏", "苏州"),
             ("江苏", "南京"), ("四川", "成都"), ("湖北", "武汉"), ("山东", "青岛"), ("福建", "厦门"), ("陕西", "西安")]
SOURCES = [("wecom_live_code", 35), ("official_account", 20), ("web_form", 15), ("import", 15), ("mini_program", 10),
           ("channels_video", 5)]
EVENTS = [("Page Viewed", 40), ("Product Viewed", 25), ("Article Read", 10), ("WeCom Message Sent", 10),
          ("Product Added", 8), ("Order Completed", 5), ("Coupon Claimed", 2)]
STAGES = [("acquisition", 40), ("nurturing", 25), ("opportunity", 12), ("order", 10), ("service", 8), ("repurchase", 5)]
CORP_ID = "wwdemo0000000001"
APP_ID = "wxdemoapp000001"


@dataclass
class Progress:
    report: Callable[[str, int, int], None] = lambda stage, done, total: None


def _weighted(rng: random.Random, pairs):
    names, weights = zip(*pairs, strict=True)
    return lambda: rng.choices(names, weights)[0]


def mobile(rng: random.Random, n: int) -> str:
    """A valid mobile number unique for each n < 10^8: the last 8 digits are a bijection of n (an odd
    multiplier modulo 10^8 that is coprime to it), so random prefixes never make two profiles collide."""
    return "+86" + rng.choice(MOBILE_PREFIXES) + f"{(n * 48_271 + 12_345_679) % 10**8:08d}"


def generate(*, actor: Actor, profiles: int, events: int, seed: int = 42, owners: list[tuple[int, int | None]] | None = None,
             progress: Progress | None = None) -> dict[str, int]:
    """Insert ``profiles`` profiles with identities, tags, consent and lifecycle, and ``events`` events with their
    rollups, into the actor's organisation. Returns row counts."""
    rng = random.Random(seed)
    progress = progress or Progress()
    consent.ensure_default_purposes(actor=actor)
    lifecycle.ensure_default_stages(actor=actor)
    owners = owners or [(None, None)]
    now = clock.now().replace(microsecond=0)
    source_of, stage_of, event_of = _weighted(rng, SOURCES), _weighted(rng, STAGES), _weighted(rng, EVENTS)
    org = actor.org_id
    counts = {"profiles": profiles, "identities": 0, "events": 0, "tags": 0, "consents": 0}

    first = next_ids("cdp_profile", profiles)
    chunk = 50_000

    def profile_rows(lo: int, hi: int) -> Iterator[tuple]:
        for n in range(lo, hi):
            pid = first + n
            prov, city = rng.choice(PROVINCES)
            owner, dept = rng.choice(owners)
            created = now - dt.timedelta(days=rng.randrange(720), seconds=rng.randrange(86400))
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
            yield (pid, org, "person", "active", name, rng.choice(("male", "female", "unknown")), None, prov, city,
                   source_of(), "", stage_of(), created, owner, dept, "{}", "{}", created,
                   created + dt.timedelta(days=rng.randrange(30)), 0, created, now, None, None)

    pcols = ["id", "org_id", "kind", "status", "name", "gender", "birthday", "province", "city", "source", "channel",
             "lifecycle_stage", "lifecycle_changed_at", "owner_id", "department_id", "traits", "custom",
             "first_seen_at", "last_seen_at", "identity_count", "created_at", "updated_at", "merged_into_id",
             "account_id"]
    icols = ["org_id", "profile_id", "type", "namespace", "value", "value_index", "source", "is_primary",
             "created_at", "updated_at"]
    for lo in range(0, profiles, chunk):
        hi = min(profiles, lo + chunk)
        with transaction.atomic():
            copy_rows("cdp_profile", pcols, profile_rows(lo, hi))
            counts["identities"] += copy_rows("cdp_identity", icols, _identity_rows(rng, org, first, lo, hi, now))
        progress.report("profiles", hi, profiles)

    with transaction.atomic():
        _fix_identity_counts(org)
        counts["tags"] = _tags(actor, rng, first, profiles, now)
        counts["consents"] = _consents(actor, rng, first, profiles, now)

    ecols = ["org_id", "profile_id", "source_id", "type", "name", "message_id", "anonymous_id", "user_id",
             "properties", "context", "timestamp", "received_at"]
    echunk = 200_000
    for lo in range(0, events, echunk):
        hi = min(events, lo + echunk)

        def event_rows(lo=lo, hi=hi) -> Iterator[tuple]:
            for n in range(lo, hi):
                pid = first + rng.randrange(profiles)
                ts = now - dt.timedelta(days=rng.randrange(180), seconds=rng.randrange(86400))
                name = event_of()
                props = {"sku": f"SKU{rng.randrange(500):04d}"} if "Product" in name or "Order" in name else {}
                if name == "Order Completed":
                    props["revenue"] = f"{rng.randrange(99, 99999)}.00"
                yield (org, pid, None, "track", name, f"gen-{seed}-{n}", "", "", json.dumps(props), "{}", ts, ts)

        with transaction.atomic():
            counts["events"] += copy_rows("cdp_event", ecols, event_rows())
        progress.report("events", hi, events)
    with transaction.atomic():
        rebuild_rollups(org)
    progress.report("rollups", 1, 1)
    return counts


def _identity_rows(rng, org, first, lo, hi, now) -> Iterator[tuple]:
    """~2.3 identifiers per profile: phone 90 %, external_userid 60 %, unionid 50 %, email 30 %."""
    for n in range(lo, hi):
        pid = first + n
        ids = []
        if rng.random() < 0.9:
            ids.append(Identifier("phone", mobile(rng, pid)))
        if rng.random() < 0.6:
            ids.append(Identifier("wecom_external_userid", f"wmDemo{pid:012d}", CORP_ID))
        if rng.random() < 0.5:
            ids.append(Identifier("unionid", f"oDemoU{pid:016d}"))
        if rng.random() < 0.3:
            ids.append(Identifier("email", f"user{pid}@example.cn"))
        seen = set()
        for i in ids:
            if (i.type, i.value) in seen:
                continue
            seen.add((i.type, i.value))
            yield (org, pid, i.type, i.namespace, crypto.encrypt(i.value, context=f"cdp.identity.{i.type}"),
                   i.index, "generator", False, now, now)


def _fix_identity_counts(org: int) -> None:
    # Random mobiles can collide; the unique constraint is per (org, type, namespace, index), so the generator
    # skips nothing here — it relies on the rarity of a collision among 10^8 × 33 numbers and counts what exists.
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE cdp_profile SET identity_count = c.n FROM (SELECT profile_id, COUNT(*) AS n FROM cdp_identity "
            "WHERE org_id = %s GROUP BY profile_id) AS c WHERE cdp_profile.id = c.profile_id", [org])


def _tags(actor, rng, first, profiles, now) -> int:
    from .tags import get_or_create_tag

    tag_ids = [get_or_create_tag(actor=actor, group=g, name=t).pk for g, t in (
        ("价值", "VIP"), ("价值", "高潜"), ("兴趣", "新品"), ("兴趣", "促销"), ("兴趣", "直播"), ("来源", "展会"))]
    rows = ((actor.org_id, first + n, t, "generator", None, now, now)
            for n in range(profiles) for t in tag_ids if rng.random() < 0.12)
    return copy_rows("cdp_profiletag", ["org_id", "profile_id", "tag_id", "source", "added_by_id", "created_at",
                                         "updated_at"], rows)


def _consents(actor, rng, first, profiles, now) -> int:
    from .models import ConsentPurpose

    purpose = ConsentPurpose.objects.in_org(actor).get(key="marketing")
    rows = ((actor.org_id, first + n, purpose.pk, "", True, now, "generator", "1", None, "{}", now, now)
            for n in range(profiles) if rng.random() < 0.7)
    return copy_rows("cdp_consentrecord", ["org_id", "profile_id", "purpose_id", "channel", "granted", "at", "source",
                                            "notice_version", "actor_user_id", "evidence", "created_at", "updated_at"],
                     rows)


def _local_day_sql() -> tuple[str, list]:
    """SQL for the local calendar day of an event's timestamp in the configured time zone."""
    import zoneinfo

    from django.conf import settings

    if connection.vendor == "postgresql":
        return "(\"timestamp\" AT TIME ZONE %s)::date", [settings.TIME_ZONE]
    # SQLite has no time zones: use the zone's current offset (exact for zones without DST, like Asia/Shanghai).
    offset = clock.now().astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    return f"date(\"timestamp\", '{minutes:+d} minutes')", []


def rebuild_rollups(org: int) -> None:
    """Full recompute of one organisation's event rollups from raw events (the incremental path must agree)."""
    day, day_params = _local_day_sql()
    with connection.cursor() as cur:
        cur.execute("DELETE FROM cdp_eventrollup WHERE org_id = %s", [org])
        cur.execute("DELETE FROM cdp_eventdailyrollup WHERE org_id = %s", [org])
        cur.execute(
            "INSERT INTO cdp_eventrollup (org_id, profile_id, name, count, first_at, last_at) "
            "SELECT org_id, profile_id, name, COUNT(*), MIN(\"timestamp\"), MAX(\"timestamp\") FROM cdp_event "
            "WHERE org_id = %s AND profile_id IS NOT NULL AND name <> '' GROUP BY org_id, profile_id, name", [org])
        cur.execute(
            f"INSERT INTO cdp_eventdailyrollup (org_id, profile_id, name, day, count) "  # noqa: S608 - fixed text
            f"SELECT org_id, profile_id, name, {day}, COUNT(*) FROM cdp_event "
            f"WHERE org_id = %s AND profile_id IS NOT NULL AND name <> '' GROUP BY org_id, profile_id, name, {day}",
            [*day_params, org, *day_params])
