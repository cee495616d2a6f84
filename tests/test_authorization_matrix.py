"""Gate: the authorisation matrix. Every API operation and every console URL that addresses a record, called
with organisation A's ids by someone who must not reach them, answers 404 and changes nothing.

Who calls:

* ``other-org-key`` / ``other-org-session``: organisation B's administrator (all permissions) through an API
  key and through a console session;
* ``out-of-scope-session``: a member of organisation A with every permission but data scope "own", in a
  department of their own. Only routes whose records are data-scoped (their model declares ``scope_key``)
  apply; the others are reference data every member of the organisation may read.

The routes are read from what exists (the OpenAPI document and Django's URL resolver), never listed by hand,
so a new router or page is in the matrix the moment it is mounted. Path parameters are filled with records of
organisation A found through organisation A's own list endpoints (created through the collection's POST
when the list is empty); a value organisation B's list shows too (a standard object's key) is shared, not A's,
and a route with only shared parameters is not record-addressed. Before and after each call every table is
read back: apart from sessions, the cache and appended audit entries, nothing may differ.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import respx
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from siyu.api import api
from siyu.kernel.tenancy import TenantModel

PASSWORD = "correct horse battery staple"
MARKER = "alphasecret"  # in every name and email of organisation A's records (fits identifiers too)
API_PREFIX = "/api/v1"
UNSAFE = {"post", "put", "patch", "delete"}
PARAM = re.compile(r"\{([^}]+)\}")
CONVERTER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")

# Rows that a refused request may still touch: the caller's session and its last-seen time, rate-limit and
# login counters in the cache, the key's last use. Audit tables may only grow (denied accesses are logged).
VOLATILE_TABLES = {"django_session", "siyu_cache", "iam_usersession"}
VOLATILE_COLUMNS = {"last_used_at", "last_seen_at", "last_login"}
APPEND_ONLY_PREFIX = "audit_"

SCHEMA = api.get_openapi_schema(path_prefix=f"{API_PREFIX}/")
OPERATIONS = sorted(
    (method, path, op)
    for path, item in SCHEMA["paths"].items()
    for method, op in item.items()
    if method in {"get", "post", "put", "patch", "delete"}
)
PARAM_TYPES: dict[str, str] = {}  # filled below, once the helpers exist
ADDRESSED = [(m, p) for m, p, _ in OPERATIONS if PARAM.search(p)]
COLLECTION_READS = [p for m, p, _ in OPERATIONS if m == "get" and not PARAM.search(p)]
CALLERS = ["other-org-key", "other-org-session", "out-of-scope-session"]


def _console_routes() -> list[tuple[str, str]]:
    def walk(patterns, prefix=""):
        for p in patterns:
            if not isinstance(p.pattern, RoutePattern):
                continue  # regex routes (i18n) take no record
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and CONVERTER.search(route):
                yield route, p.name or ""

    return sorted({(r, n) for r, n in walk(get_resolver().url_patterns) if not r.startswith(("api/", "static/"))})


CONSOLE = _console_routes()


def _norm(segment: str) -> str:
    s = segment.replace("-", "").replace("_", "").lower()
    if s.endswith("ies"):
        return s[:-3] + "y"
    if s.endswith("sses"):  # processes
        return s[:-2]
    return s[:-1] if s.endswith("s") and not s.endswith("ss") else s


# URL collections that are views of a data-scoped model under another name (company accounts are profiles).
# Not under the channels (an official account is the channel's own row), except WeCom's external contacts: they
# are customers, scoped like profiles (``ExternalContact.scope_key`` is "cdp.profile").
ALIASES = {"account": "profile", "contact": "profile", "customer": "profile"}
UNALIASED_PREFIXES = (f"{API_PREFIX}/channels/", "channels/")
ALIASED_CHANNEL_ROUTES = (f"{API_PREFIX}/channels/wecom/contacts", "channels/wecom/contacts")


def _scoped_objects() -> set[str]:
    """Object names whose rows are data-scoped ("user" for iam.user): the models that declare a scope_key."""
    keys = {m.scope_key for m in apps.get_models()
            if issubclass(m, TenantModel) and isinstance(getattr(m, "scope_key", None), str)}
    names = {_norm(k.rsplit(".", 1)[-1]) for k in keys}
    return names | {alias for alias, name in ALIASES.items() if name in names}


# --- building a minimal valid request body from a JSON schema ------------------------------------------

_counter = itertools.count(1)
# Values for properties whose schema does not say what it accepts (the service validates them); keep short.
HINTS = {"type": "text", "value": "+8613800138000"}


def _resolve(s: dict) -> dict:
    while "$ref" in s:
        node: Any = SCHEMA
        for part in s["$ref"].lstrip("#/").split("/"):
            node = node[part]
        s = node
    return s


def example(s: dict, name: str | None = None) -> Any:
    s = _resolve(s)
    if name in HINTS and "enum" not in s:
        return HINTS[name]
    if "const" in s:
        return s["const"]
    if s.get("enum"):
        return s["enum"][0]
    for combo in ("anyOf", "oneOf"):
        if combo in s:
            options = [_resolve(o) for o in s[combo]]
            return example(next((o for o in options if o.get("type") != "null"), options[0]))
    if "allOf" in s:
        return example(s["allOf"][0])
    kind = s.get("type")
    if kind == "object" or "properties" in s:
        props = s.get("properties", {})
        return {prop: example(props.get(prop, {}), prop) for prop in s.get("required", [])}
    if kind == "array":
        return [example(s.get("items", {})) for _ in range(s.get("minItems", 0))]
    if kind == "integer":
        return max(int(s.get("minimum", 1)), 1)
    if kind == "number":
        return max(float(s.get("minimum", 1)), 1.0)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    n = next(_counter)
    fmt = s.get("format")
    if fmt == "email":
        return f"matrix{n}@{MARKER}.example"
    if fmt == "date-time":  # increasing, so a period's end comes after its start
        return (dt.datetime(2031, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n)).isoformat()
    if fmt == "date":
        return "2031-01-01"
    if fmt in {"uri", "url"}:
        return "https://example.com/"
    if "pattern" in s:
        for candidate in (f"{MARKER}{n}", f"custom.{MARKER}{n}", f"{MARKER}.f{n}", f"A{n}"):
            if re.search(s["pattern"], candidate):
                return candidate
        from hypothesis import find, strategies

        return find(strategies.from_regex(s["pattern"], fullmatch=True), lambda _: True)
    text = f"{MARKER}{n}"
    return text[: s.get("maxLength", len(text))].ljust(s.get("minLength", 0), "x")


def body_for(op: dict) -> str | None:
    content = op.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    return None if media is None else json.dumps(example(media.get("schema", {})))


def query_for(op: dict) -> dict:
    return {p["name"]: example(p.get("schema", {})) for p in op.get("parameters", [])
            if p.get("in") == "query" and p.get("required")}


def items_of(payload: Any) -> list[dict]:
    if isinstance(payload, list):
        return [i for i in payload if isinstance(i, dict)]
    if isinstance(payload, dict):
        if isinstance(payload.get("items"), list):
            return items_of(payload["items"])
        for value in payload.values():
            if isinstance(value, list):
                return items_of(value)
    return []


def _param_types() -> dict[str, str]:
    """Path parameter name -> its JSON type ("integer", "string") as the operations declare it."""
    types = {}
    for _, _, op in OPERATIONS:
        for p in op.get("parameters", []):
            if p.get("in") == "path":
                types[p["name"]] = _resolve(p.get("schema", {})).get("type", "string")
    return types


def value_of(item: dict, param: str) -> Any:
    wanted = int if PARAM_TYPES.get(param) == "integer" else (str, int)
    for name in (param, "id", param.removesuffix("_id"), "key", "pk"):
        value = item.get(name)
        if isinstance(value, wanted) and not isinstance(value, bool):
            return value
    return None


PARAM_TYPES.update(_param_types())


# --- seeds for what the API lists but cannot create ------------------------------------------------------
# Each seed makes one of organisation A's records for a concrete collection URL the way a user or a process
# would: through the API with a body the example generator cannot guess, or through the owner's services
# where the record only arises from a process (a merge, a sync, a submitted quote).

def _api(world: World, method: str, url: str, body: dict | None = None) -> Any:
    """Organisation A's administrator calls the API; anything but success stops the world being built."""
    r = (world.admin_a.get(url) if method == "get"
         else getattr(world.admin_a, method)(url, data=json.dumps(body or {}), content_type="application/json"))
    assert r.status_code < 300, f"seeding: {method.upper()} {url} {body} answered {r.status_code}: {r.content[:300]!r}"
    return r.json() if r.content else None


def _own(world: World, collection: str, param: str = "id") -> Any:
    """The value of one of organisation A's own records of a collection (seeded the usual way if need be)."""
    _seed_collection(world, collection, collection, param)
    owned = world.owned[collection]
    assert owned, f"seeding: organisation A has nothing at {collection}: {world.notes.get(collection)}"
    return value_of(owned[0], param)


def _seed_merge(world: World, url: str) -> None:
    from siyu.cdp import merging
    from siyu.cdp.models import Profile

    op = SCHEMA["paths"][f"{API_PREFIX}/cdp/profiles"]["post"]
    for _ in range(2):
        world.admin_a.post(f"{API_PREFIX}/cdp/profiles", data=body_for(op), content_type="application/json")
    survivor, merged = Profile.objects.in_org(world.admin_actor).order_by("-pk")[:2]
    merging.merge_profiles(actor=world.admin_actor, survivor=survivor, merged=merged, reason="authorisation matrix")


def _seed_merge_review(world: World, url: str) -> None:
    # Reviews arise only inside identity resolution (cdp.resolution._review, private): written as it writes them.
    from siyu.cdp.models import MergeReview, Profile

    op = SCHEMA["paths"][f"{API_PREFIX}/cdp/profiles"]["post"]
    for _ in range(2):
        world.admin_a.post(f"{API_PREFIX}/cdp/profiles", data=body_for(op), content_type="application/json")
    ids = list(Profile.objects.in_org(world.admin_actor).order_by("-pk").values_list("pk", flat=True)[:2])
    MergeReview.objects.create(org_id=world.org_a_id, profiles=ids, reason="blocklisted", trigger={"source": MARKER})


def _wecom_corp(world: World) -> int:
    """Organisation A's corp, connected to the fake WeCom the module routes wecom.test to, with its employees and
    external contacts synced as the sync worker does. Made once."""
    from siyu.channels.wecom import sync
    from siyu.channels.wecom.testing import AES_KEY, API_BASE, TOKEN

    if world.wecom_corp is None:
        fake = world.wecom
        corp = _api(world, "post", f"{API_PREFIX}/channels/wecom/corps", {
            "corp_id": fake.corp_id, "name": f"{MARKER} corp", "secret": fake.secret, "callback_token": TOKEN,
            "encoding_aes_key": AES_KEY, "api_base": API_BASE})
        for kind in ("employees", "contacts"):
            run = _api(world, "post", f"{API_PREFIX}/channels/wecom/corps/{corp['id']}/syncs", {"kind": kind})
            assert sync.run(run["id"], org_id=world.org_a_id).status == "done", f"the {kind} sync failed"
        world.wecom_corp = corp["id"]
    return world.wecom_corp


def _seed_wecom_contact(world: World, url: str) -> None:
    _wecom_corp(world)


def _seed_live_code(world: World, url: str) -> None:
    _api(world, "post", url, {"corp": _wecom_corp(world), "name": f"{MARKER} code",
                              "members": [{"userid": WECOM_EMPLOYEE}]})


def _seed_wecom_groups(world: World, url: str) -> None:
    """The corp's customer groups mirrored as the groups sync does."""
    from siyu.channels.wecom import corps, groups

    groups.sync_groups(corps.corp_of(world.admin_actor, _wecom_corp(world)))


def _seed_group_code(world: World, url: str) -> None:
    _own(world, f"{API_PREFIX}/channels/wecom/groups", "group_id")
    _api(world, "post", url, {"corp": _wecom_corp(world), "name": f"{MARKER} group code", "chat_ids": [WECOM_CHAT]})


def _seed_approval_process(world: World, url: str) -> None:
    _api(world, "post", url, {"object_key": "sales.quote", "name": f"{MARKER} quote approval", "steps": [
        {"name": f"{MARKER} step", "mode": "any", "approvers": [{"kind": "user", "value": [world.admin_actor.user_id]}]}]})


def _seed_approval_request(world: World, url: str) -> None:
    """A quote submitted under the process above: a pending request (the sales path opens it, as users do)."""
    _own(world, f"{API_PREFIX}/platform/approvals/processes")
    quote = _api(world, "post", f"{API_PREFIX}/sales/commerce/quotes", QUOTE)
    _api(world, "post", f"{API_PREFIX}/sales/commerce/quotes/{quote['id']}/submit")


def _seed_body(body: dict):
    def seed(world: World, url: str) -> None:
        _api(world, "post", url, body)

    return seed


def _seed_customer_pool(world: World, url: str) -> None:
    """A customer pool of A's sales department: customers come first in the pool listing (kind, name), so the
    pool's customer routes address it; the out-of-scope member (another department) may not use it."""
    _api(world, "post", url, {"name": f"{MARKER} customer pool", "kind": "customer",
                              "department_id": world.sales_department})


def _seed_customer_pool_entry(world: World, url: str) -> None:
    profile = _own(world, f"{API_PREFIX}/cdp/profiles", "profile_id")
    _api(world, "post", url, {"profile_id": profile, "reason": f"{MARKER} released"})


def _seed_gate_approval(world: World, url: str) -> None:
    """An opportunity asks for the approval its pipeline's next stage needs."""
    opportunity = _own(world, f"{API_PREFIX}/sales/opportunities", "opportunity_id")
    detail = _api(world, "get", f"{API_PREFIX}/sales/opportunities/{opportunity}")
    stages = _api(world, "get", f"{API_PREFIX}/sales/pipelines/{detail['pipeline_id']}")["stages"]
    stage = next(s for s in stages if s["id"] != detail.get("stage_id"))
    _api(world, "patch", f"{API_PREFIX}/sales/stages/{stage['id']}", {"requires_approval": True})
    _api(world, "post", f"{API_PREFIX}/sales/opportunities/{opportunity}/approvals", {"stage_id": stage["id"]})


def _seed_broadcast(world: World, url: str) -> None:
    """A WeCom broadcast of A's corp to A's segment, due in 30 days (so nothing is sent meanwhile)."""
    segment = _own(world, f"{API_PREFIX}/cdp/segments", "segment_id")
    _api(world, "post", url, {"name": f"{MARKER} api broadcast", "text": f"{MARKER} hello", "corp_id": _wecom_corp(world),
                              "segment_id": segment, "attachments": [{"kind": "link", "title": f"{MARKER} link",
                                                                      "url": "https://example.com/alphasecret"}],
                              "scheduled_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()})


def _seed_rep(world: World, url: str) -> None:
    _api(world, "put", f"{url}/{world.admin_actor.user_id}", {"capacity": 5})


def _seed_leave(world: World, url: str) -> None:
    """A's administrator on leave: the schema's example names user 1, which on PostgreSQL (ids not reset between
    tests) is nobody of A's."""
    _api(world, "post", url, {"user_id": world.admin_actor.user_id, "starts_at": "2031-01-01T00:12:00+00:00",
                              "ends_at": "2031-01-02T00:12:00+00:00"})


# --- seeds for console pages with no API collection -------------------------------------------------------
# Route name (the segment before the converter, normalised) -> a function making one of organisation A's records
# and returning its id, through the owning context's services.

def _console_broadcast(world: World) -> int:
    from siyu.channels.wecom.broadcasts import services

    segment = _own(world, f"{API_PREFIX}/cdp/segments", "segment_id")
    broadcast = services.create_broadcast(actor=world.admin_actor, data={
        "name": f"{MARKER} broadcast", "text": f"{MARKER} hello", "corp_id": _wecom_corp(world),
        "segment_id": segment, "scheduled_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()})
    return broadcast.pk


def _console_source(world: World) -> int:
    from siyu.cdp.ingest import sources

    source, _key = sources.create_source(actor=world.admin_actor, name=f"{MARKER} source")
    return source.pk


def _console_saved_filter(world: World) -> int:
    from siyu.sales.services import views

    return views.save_filter(actor=world.admin_actor, object_key="sales.contract", name=f"{MARKER} filter",
                             query="sort=-created_at").pk


def _console_archive_config(world: World) -> int:
    from siyu.channels.wecom.archive import services

    return services.save_config(actor=world.admin_actor, corp_pk=_wecom_corp(world), data={
        "retention_days": 30, "reply_timeout_minutes": 30, "work_start": "09:00", "work_end": "18:00",
        "work_days": [1, 2, 3, 4, 5], "secret": f"{MARKER} archive secret"}).pk


def _console_archive_word(world: World) -> int:
    from siyu.channels.wecom.archive import services

    return services.add_word(actor=world.admin_actor, word=f"{MARKER} word").pk


CONSOLE_SEEDS = {
    "config": _console_archive_config,
    "word": _console_archive_word,
    "broadcast": _console_broadcast,
    "source": _console_source,
    "savedfilter": _console_saved_filter,
}


def _console_value(world: World, name: str) -> Any:
    """The seeded record's id, or why there is none (a str)."""
    if name not in world.console_values:
        try:
            with transaction.atomic():
                world.console_values[name] = CONSOLE_SEEDS[name](world)
        except Exception as exc:  # noqa: BLE001 - reported on every route it leaves unaddressed
            world.console_values[name] = f"the seed {CONSOLE_SEEDS[name].__name__} failed: {exc!r}"[:600]
    return world.console_values[name]


class _FakeWeCom:
    """The channel's fake WeCom (``siyu.channels.wecom.testing``) with one customer group and its join ways."""

    @staticmethod
    def make():
        from siyu.channels.wecom.testing import FakeWeCom, ok

        class Fake(FakeWeCom):
            def api_externalcontact_groupchat_list(self, body, query):
                return ok(group_chat_list=[{"chat_id": WECOM_CHAT, "status": 0}], next_cursor="")

            def api_externalcontact_groupchat_get(self, body, query):
                return ok(group_chat={
                    "chat_id": WECOM_CHAT, "name": f"{MARKER} group", "owner": WECOM_EMPLOYEE, "create_time": 1700000000,
                    "notice": "", "member_version": "1",
                    "member_list": [{"userid": WECOM_EMPLOYEE, "type": 1, "join_time": 1700000000, "join_scene": 1}]})

            def api_externalcontact_groupchat_add_join_way(self, body, query):
                config_id = f"joinway{next(self._ids)}"
                self.contact_ways[config_id] = {**body, "config_id": config_id, "qr_code": "https://example.com/qr"}
                return ok(config_id=config_id)

            def api_externalcontact_groupchat_get_join_way(self, body, query):
                return ok(join_way=self.contact_ways.get(body.get("config_id"), {}))

        fake = Fake(corp_id="wwalphasecret")
        fake.add_employee(WECOM_EMPLOYEE, f"{MARKER} employee")
        fake.contacts["wmalphasecret1"] = {"external_userid": "wmalphasecret1", "name": f"{MARKER} customer",
                                           "type": 1}
        fake.relations[(WECOM_EMPLOYEE, "wmalphasecret1")] = {"userid": WECOM_EMPLOYEE, "createtime": 1700000000,
                                                              "add_way": 1, "tags": []}
        return fake


WECOM_CHAT = "wralphasecret1"
WECOM_EMPLOYEE = "alphasecret_rep"
QUOTE = {"title": f"{MARKER} quote", "customer_name": f"{MARKER} buyer",
         "lines": [{"name": f"{MARKER} item", "quantity": "2", "unit_price": "150.00"}]}

# Collection template -> a function creating one of organisation A's records there. Only for records the
# collection's POST cannot make from the example body (they arise from processes, or need a body that refers to
# other records); everything else goes through POST.
SEEDS = {
    f"{API_PREFIX}/cdp/merges": _seed_merge,
    f"{API_PREFIX}/cdp/merge-reviews": _seed_merge_review,
    f"{API_PREFIX}/channels/wecom/contacts": _seed_wecom_contact,
    f"{API_PREFIX}/channels/wecom/live-codes": _seed_live_code,
    f"{API_PREFIX}/channels/wecom/groups": _seed_wecom_groups,
    f"{API_PREFIX}/channels/wecom/group-codes": _seed_group_code,
    f"{API_PREFIX}/channels/wecom/broadcasts": _seed_broadcast,
    f"{API_PREFIX}/platform/approvals/processes": _seed_approval_process,
    f"{API_PREFIX}/platform/approvals/requests": _seed_approval_request,
    f"{API_PREFIX}/sales/commerce/contracts": _seed_body({"title": f"{MARKER} contract",
                                                          "customer_name": f"{MARKER} buyer", "amount": "300.00"}),
    f"{API_PREFIX}/sales/commerce/products": _seed_body({"code": f"{MARKER}-p1", "name": f"{MARKER} product",
                                                         "list_price": "150.00"}),
    f"{API_PREFIX}/sales/commerce/quotes": _seed_body(QUOTE),
    f"{API_PREFIX}/sales/pools": _seed_customer_pool,
    f"{API_PREFIX}/sales/pools/{{pool_id}}/customers": _seed_customer_pool_entry,
    f"{API_PREFIX}/sales/gate-approvals": _seed_gate_approval,
    f"{API_PREFIX}/sales/reps": _seed_rep,
    f"{API_PREFIX}/sales/leaves": _seed_leave,
}


# --- the world --------------------------------------------------------------------------------------------

@dataclass
class World:
    admin_a: Client
    admin_actor: Any
    org_a_id: int
    callers: dict[str, Client]
    # A third organisation's administrator: what it lists too is shared, not A's. Not one of the callers, so
    # the lookups made while building the world leave no trace in B's audit log for the leak checks to trip on.
    witness: Client
    owned: dict[str, list[Any]] = field(default_factory=dict)  # concrete collection URL -> A's own values
    notes: dict[str, str] = field(default_factory=dict)  # collection -> why it has no value
    wecom: Any = None  # the fake WeCom organisation A's corp is connected to
    wecom_corp: int | None = None
    sales_department: int | None = None  # A's department the out-of-scope member is not in
    console_values: dict[str, Any] = field(default_factory=dict)  # CONSOLE_SEEDS name -> the record's id


def _key_client(actor, name: str) -> Client:
    from siyu.iam import services as iam

    key, raw = iam.issue_api_key(actor=actor, name=name, scopes=["*"])
    key.rate_per_minute = 1_000_000
    key.save(update_fields=["rate_per_minute"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _session(email: str) -> Client:
    client = Client()
    r = client.post("/login/", {"email": email, "password": PASSWORD})
    assert r.status_code in (302, 303), f"login of {email} failed: {r.status_code}"
    return client


def _listing(client: Client, url: str) -> list[dict] | None:
    r = client.get(url)
    return items_of(r.json()) if r.status_code == 200 and r["Content-Type"].startswith("application/json") else None


def _seed_collection(world: World, url: str, template: str, param: str) -> None:
    """Org A's own values for one concrete collection URL (not shown to organisation B too), created through
    the collection's POST when there are none."""
    if url in world.owned:
        return

    def own_items():
        items = _listing(world.admin_a, url)
        if items is None:
            return None
        shared = {value_of(i, param) for i in _listing(world.witness, url) or []}
        return [i for i in items if value_of(i, param) not in shared]

    owned = own_items()
    if owned == [] and template in SEEDS:
        try:
            with transaction.atomic():  # a seed that fails leaves nothing half-made, and only its routes untested
                SEEDS[template](world, url)
        except Exception as exc:  # noqa: BLE001 - reported on every route it leaves unaddressed
            world.notes[url] = f"the seed {SEEDS[template].__name__} for {url} failed: {exc!r}"[:600]
        owned = own_items()
    if owned == [] and template in SCHEMA["paths"] and "post" in SCHEMA["paths"][template]:
        op = SCHEMA["paths"][template]["post"]
        r = world.admin_a.post(url, data=body_for(op) or "{}", content_type="application/json")
        if r.status_code >= 300:
            world.notes[url] = f"POST {url} {body_for(op)} answered {r.status_code}: {r.content[:300]!r}"
        owned = own_items()
    if owned is None:
        world.notes.setdefault(url, f"no list endpoint answers GET {url}")
    world.owned[url] = owned or []


def fill(world: World, template: str) -> tuple[str, bool] | str:
    """The template with A's values, and whether any of them is A's own; or why it cannot be filled."""
    url, own, pos = "", False, 0
    for m in PARAM.finditer(template):
        collection_url = (url + template[pos: m.start()]).rstrip("/")
        _seed_collection(world, collection_url, template[: m.start()].rstrip("/"), m.group(1))
        owned = world.owned[collection_url]
        # A's own record where there is one; else something shared (a standard object) to reach deeper levels.
        candidates = owned or _listing(world.admin_a, collection_url) or []
        value = next((v for v in (value_of(i, m.group(1)) for i in candidates) if v is not None), None)
        if value is None:
            return world.notes.get(collection_url, f"organisation A has nothing at {collection_url}")
        own = own or bool(owned)
        url = f"{collection_url}/{value}"
        pos = m.end()
    return url + template[pos:], own


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    from siyu.iam import services as iam
    from siyu.iam.models import Department
    from siyu.iam.selectors import actor_for_membership
    from siyu.kernel.actor import Actor, DataScope

    fake = _FakeWeCom.make()
    # Everything WeCom is asked while the module runs is answered by the fake: a leaked write reaches it and
    # shows up as a changed row, never as a network error.
    with django_db_blocker.unblock(), respx.mock(assert_all_called=False) as wecom:
        wecom.route(host="wecom.test").mock(side_effect=fake.handle)
        outer = transaction.atomic()
        outer.__enter__()
        try:
            a = iam.create_organization(name=f"{MARKER} org", admin_email=f"admin@{MARKER}.example",
                                        admin_password=PASSWORD)
            b = iam.create_organization(name="Bravo org", admin_email="admin@bravo.example", admin_password=PASSWORD)
            c = iam.create_organization(name="Charlie org", admin_email="admin@charlie.example",
                                        admin_password=PASSWORD)
            admin_a = actor_for_membership(a)
            root = Department.objects.in_org(Actor.system(a.org_id)).get(parent__isnull=True)
            dept = iam.add_department(actor=admin_a, name=f"{MARKER} sales", parent=root)
            iam.add_member(actor=admin_a, email=f"rep@{MARKER}.example", password=PASSWORD, department=dept)
            elsewhere = iam.add_department(actor=admin_a, name="Matrix outpost", parent=root)
            role = iam.create_role(actor=admin_a, data={"name": "Matrix everything, own records",
                                                        "permissions": ["*"], "default_scope": DataScope.OWN.value})
            iam.add_member(actor=admin_a, email="scoped@matrix-outpost.example", password=PASSWORD,
                           department=elsewhere, roles=[role.pk])
            world = World(
                admin_a=_key_client(admin_a, f"{MARKER} key"),
                admin_actor=admin_a,
                org_a_id=a.org_id,
                callers={
                    "other-org-key": _key_client(actor_for_membership(b), "bravo key"),
                    "other-org-session": _session("admin@bravo.example"),
                    "out-of-scope-session": _session("scoped@matrix-outpost.example"),
                },
                witness=_key_client(actor_for_membership(c), "charlie key"),
                wecom=fake,
                sales_department=dept.pk,
            )
            world.filled = {(m, p): fill(world, p) for m, p in ADDRESSED}
            world.filled_console = {route: _fill_console(world, route) for route, _ in CONSOLE}
            # Every test starts from this state (each runs in its own transaction, rolled back after it), so
            # one snapshot taken now is what each call is compared with.
            world.baseline = snapshot()
            yield world
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# --- the database before and after --------------------------------------------------------------------

def snapshot() -> dict[str, list[str]]:
    qn = connection.ops.quote_name
    out = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table in VOLATILE_TABLES:
                continue
            cursor.execute(f"SELECT * FROM {qn(table)}")
            cols = [d[0] for d in cursor.description]
            keep = [i for i, c in enumerate(cols) if c not in VOLATILE_COLUMNS]
            out[table] = sorted(repr(tuple(row[i] for i in keep)) for row in cursor.fetchall())
    return out


def assert_unchanged(before: dict, after: dict, label: str) -> None:
    changed = []
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, []), after.get(table, [])
        if table.startswith(APPEND_ONLY_PREFIX):
            if not set(old) <= set(new):
                changed.append(f"{table}: rows changed or vanished")
        elif old != new:
            changed.append(f"{table}: {len(old)} -> {len(new)} rows, first difference "
                           f"{next(iter(sorted(set(old) ^ set(new))), '')[:200]}")
    assert not changed, f"{label} changed the database:\n" + "\n".join(changed)


# --- the API ------------------------------------------------------------------------------------------

def _indexed_collections(route: str) -> list[str]:
    """The collection each parameter of an API path or console route indexes: the segment before it, and for
    console routes also the converter's own name (``audit/<int:entry_id>/`` indexes entries)."""
    names = []
    for m in re.finditer(r"\{(\w+)\}|<(?:\w+:)?(\w+)>", route):
        before = [s for s in route[: m.start()].split("/") if s and not s.startswith(("{", "<"))]
        if before:
            names.append(_norm(before[-1]))
        if m.group(2):
            names.append(_norm(m.group(2).removesuffix("_id").removesuffix("_key")))
    return names


def _applies(caller: str, route: str) -> str | None:
    """Why the caller/route pair is not in the matrix, or None when it is."""
    if caller != "out-of-scope-session":
        return None
    scoped = _scoped_objects()
    if route.startswith(UNALIASED_PREFIXES) and not route.startswith(ALIASED_CHANNEL_ROUTES):
        scoped = {name for name in scoped if name not in ALIASES}
    if not scoped & set(_indexed_collections(route)):
        return f"{route} addresses no data-scoped record (data-scoped: {sorted(scoped)})"
    return None


def _multipart_for(op: dict) -> dict | None:
    media = op.get("requestBody", {}).get("content", {}).get("multipart/form-data")
    if media is None:
        return None
    schema = _resolve(media.get("schema", {}))
    form: dict[str, Any] = {}
    for name in schema.get("required", []):
        prop = _resolve(schema.get("properties", {}).get(name, {}))
        if prop.get("format") == "binary":
            # a 1x1 PNG: enough for any upload field to pass parsing and reach the record lookup
            form[name] = SimpleUploadedFile("x.png", bytes.fromhex(TINY_PNG), content_type="image/png")
        else:
            form[name] = example(prop, name)
    return form


TINY_PNG = ("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def _call(client: Client, method: str, url: str, op: dict | None):
    kwargs: dict[str, Any] = {}
    if op is not None:
        query = query_for(op)
        if query:
            url = f"{url}?{'&'.join(f'{k}={v}' for k, v in query.items())}"
        body = body_for(op) if method in UNSAFE else None
        form = _multipart_for(op) if method in UNSAFE else None
        if body is not None:
            kwargs = {"data": body, "content_type": "application/json"}
        elif form is not None:
            kwargs = {"data": form}
    return getattr(client, method)(url, **kwargs)


def _missing(template: str) -> str:
    """The route addressing records that exist nowhere (ids far beyond any test's, keys no one uses)."""
    return PARAM.sub(lambda m: "2147480000" if PARAM_TYPES.get(m.group(1)) == "integer" else "zz_missing.zz",
                     template)


# Operations a caller is refused before any record is looked up, alike for every record (checked: the answer
# for A's record and for one that exists nowhere must be the same): (method, path, caller) -> why. Anything not
# listed that answers before its lookup fails the gate, since its lookup went untested.
ANSWERS_BEFORE_LOOKUP: dict[tuple[str, str, str], str] = {}

# Console routes that address no record of anyone, so there is nothing to walk; route -> why.
CONSOLE_WITHOUT_RECORD = {
    "planned/<str:key>/": "a placeholder page per planned context: the key names a menu entry, not a record",
    "oa/callback/<str:callback_key>/": (
        "the official account's callback URL: no session or key is consulted, the sender is authenticated by the "
        "message signature with the account's own token"),
    "wecom/callback/<str:callback_key>/": (
        "WeCom's callback URL: no session or key is consulted, the sender is authenticated by the message signature "
        "with the corp's own token (unsigned and forged posts: tests/channels/wecom/test_wecom_callbacks.py)"),
}

# Values for console route arguments that name no record but something fixed: a trait of a persona's chart, the
# state a source is switched to, the kind of a generic commerce object page (its record is then a contract). A route
# whose every argument is one of these addresses no record and is not in the matrix.
CONSOLE_ARGUMENTS = {"trait": "gender", "slug": "contracts"}


# Forms posted to pages that look nothing up for an empty form (they redirect whatever the id): what makes them
# reach the record. Route name -> form.
CONSOLE_FORMS = {"sales_approval_decide": {"action": "approve"}}


def test_exemptions_name_routes_that_exist():
    """An exemption outliving its route would hide the route that replaces it."""
    assert set(CONSOLE_WITHOUT_RECORD) <= {r for r, _ in CONSOLE}
    assert set(CONSOLE_FORMS) <= {n for _, n in CONSOLE}
    assert {(m, p) for m, p, _ in ANSWERS_BEFORE_LOOKUP} <= set(ADDRESSED)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), ADDRESSED, ids=[f"{m.upper()} {p}" for m, p in ADDRESSED])
def test_api_record_routes_answer_404_to_outsiders(world, db, caller, method, path):
    reason = _applies(caller, path)
    if reason:
        pytest.skip(reason)
    filled = world.filled[(method, path)]
    if isinstance(filled, str):
        pytest.fail(f"UNTESTED, cannot address a record of organisation A (add a seed to SEEDS): {filled}")
    url, own = filled
    if not own and caller != "out-of-scope-session":
        pytest.skip(f"{path}: every parameter names something organisation B has too (shared definitions)")
    op = SCHEMA["paths"][path][method]
    r = _call(world.callers[caller], method, url, op)
    assert_unchanged(world.baseline, snapshot(), f"{method.upper()} {url} as {caller}")
    if r.status_code != 404:
        # Refused before any record is looked up (the body did not validate, an API key may not do this at
        # all)? Then a record that exists nowhere gets the very same answer, and nothing leaks; but the lookup
        # itself went untested, which is not a pass.
        missing = _call(world.callers[caller], method, _missing(path), op)
        detail = f"{method.upper()} {url} as {caller}: {r.status_code} {r.content[:300]!r}"
        assert (missing.status_code, missing.content) == (r.status_code, r.content), detail
        if (method, path, caller) not in ANSWERS_BEFORE_LOOKUP:
            pytest.fail(f"UNTESTED, answers before the lookup, alike for a missing record: {detail}")
        pytest.skip(ANSWERS_BEFORE_LOOKUP[(method, path, caller)])
    assert set(r.json()) == {"code", "message", "fields"}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("path", COLLECTION_READS)
def test_api_lists_show_outsiders_nothing_of_organisation_a(world, db, caller, path):
    reason = _applies(caller, path + "/{id}")
    if reason:
        pytest.skip(reason)
    r = world.callers[caller].get(path)
    content = b"".join(r.streaming_content) if r.streaming else r.content
    assert r.status_code in (200, 404), f"GET {path} as {caller}: {r.status_code} {content[:300]!r}"
    assert MARKER.encode() not in content, f"GET {path} as {caller} shows organisation A's records"


# --- the console --------------------------------------------------------------------------------------

def _model_value(world: World, names: set[str]) -> Any:
    """For console-only records: the first of organisation A's rows of a tenant model named like the route."""
    from siyu.kernel.actor import Actor

    for model in apps.get_models():
        if issubclass(model, TenantModel) and _norm(model.__name__) in names:
            pk = model.objects.in_org(Actor.system(world.org_a_id)).order_by("pk").values_list("pk", flat=True).first()
            if pk is not None:
                return pk
    return None


def _fill_console(world: World, route: str) -> tuple[str, bool] | str:
    """Each converter of a console route filled with A's value from the API collection of the same name (the
    path segment before it, else the converter's own name: ``audit/<int:entry_id>/`` -> entries), else from
    organisation A's rows of the tenant model of that name (pages with no API)."""
    url, own = "", False
    pos = 0
    for m in CONVERTER.finditer(route):
        literal = route[pos: m.start()]
        segments = [s for s in (url + literal).split("/") if s]
        names = {_norm(segments[-1])} if segments else set()
        names.add(_norm(m.group("name").removesuffix("_id").removesuffix("_key")))
        if m.group("name") in CONSOLE_ARGUMENTS:  # names no record: a fixed value
            url += literal + CONSOLE_ARGUMENTS[m.group("name")]
            pos = m.end()
            continue
        match = [c for c in world.owned if _norm(c.rsplit("/", 1)[-1]) in names and world.owned[c]]
        seeded = sorted(names & set(CONSOLE_SEEDS))
        if match:
            collection = sorted(match, key=len)[0]
            value = next(v for v in (value_of(i, m.group("name")) for i in world.owned[collection]) if v is not None)
        elif seeded:
            value = _console_value(world, seeded[0])
            if isinstance(value, str) or value is None:
                return f"{route}: {value}"
        elif (m.group("conv") or "str") not in {"int", "uuid"}:
            return f"{route}: no collection named like <{m.group('name')}> (add it to CONSOLE_ARGUMENTS?)"
        else:
            value = _model_value(world, names | {n.removesuffix("s") for n in names})
            if value is None:
                return f"organisation A has no {sorted(names)} record for {route} (add a seed to CONSOLE_SEEDS)"
        own = True
        url += literal + str(value)
        pos = m.end()
    return "/" + url + route[pos:], own


@pytest.mark.parametrize("caller", ["other-org-session", "out-of-scope-session"])
@pytest.mark.parametrize(("route", "name"), CONSOLE, ids=[f"{n or r}" for r, n in CONSOLE])
def test_console_record_pages_answer_404_to_outsiders(world, db, caller, route, name):
    if route in CONSOLE_WITHOUT_RECORD:
        pytest.skip(CONSOLE_WITHOUT_RECORD[route])
    filled = world.filled_console[route]
    if isinstance(filled, str):
        pytest.fail(f"UNTESTED: {filled}")  # seed the record (SEEDS) so the page is in the matrix
    url, own = filled
    if not own:
        pytest.skip(f"{route}: its arguments name no record, only what CONSOLE_ARGUMENTS fills in")
    reason = _applies(caller, route)
    if reason:
        pytest.skip(reason)
    client = world.callers[caller]
    answers = {"get": client.get(url).status_code, "post": client.post(url, CONSOLE_FORMS.get(name, {})).status_code}
    after = snapshot()
    before = world.baseline
    # A page that takes only GET (or only POST) refuses the other method alike for every record: 405 leaks
    # nothing. The method it does take must answer 404.
    assert set(answers.values()) <= {404, 405} and 404 in answers.values(), f"{url} as {caller}: {answers}"
    assert_unchanged(before, after, f"GET and POST {url} as {caller}")
