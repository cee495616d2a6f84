"""The ``/cgi-bin/…`` API front: token check, per-API frequency and concurrency limits, injected faults, then the
endpoint (protocol document §2.1).

* HTTP 200 always with ``errcode``/``errmsg`` (``errmsg`` in WeCom's shape with ``hint`` and ``more info at``);
* ``access_token`` only from the query string: 41001 when missing (also when put in the body), 40014 unknown,
  42001 expired; a token of another kind (customer contact, app, archive, official account) gets 48002;
* per corp and API ≤ 10 000 calls/min and 150 000/h, per IP and API ≤ 20 000/min and 600 000/h (configurable),
  5/min with ``?debug=1`` → 45009; more than ``max_concurrency`` calls of one API in flight for a corp → 45033;
* a body that is not JSON → 47001 "… Warning: wrong json format.".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from siyu.channels.wecom.simulator.actions import Sim
from siyu.channels.wecom.simulator.errors import ApiError

# token kinds
CONTACT, APP, MSGAUDIT, OA = "contact", "app", "msgaudit", "oa"
WECOM_KINDS = (CONTACT, APP)


@dataclass
class Call:
    sim: Sim
    api: str
    method: str
    query: dict[str, str]
    body: dict[str, Any]
    ip: str
    base_url: str
    now: float
    account: str = ""  # corp id or AppID the token belongs to
    kind: str = ""

    def q(self, name: str, default: str = "") -> str:
        return self.query.get(name, default)


Handler = Callable[[Call], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    kinds: tuple[str, ...]
    bare: bool = False  # official-account answers without errcode on success
    tokenless: bool = False


@dataclass
class Registry:
    wecom: dict[str, Endpoint] = field(default_factory=dict)
    oa: dict[str, Endpoint] = field(default_factory=dict)

    def add(self, family: str, api: str, kinds: tuple[str, ...], *, bare: bool = False,
            tokenless: bool = False) -> Callable[[Handler], Handler]:  # fmt: skip
        def register(handler: Handler) -> Handler:
            getattr(self, family)[api] = Endpoint(handler, kinds, bare, tokenless)
            return handler

        return register


REGISTRY = Registry()


class Limits:
    """Fixed-window call counters per (corp or IP, API) and in-flight counters per (corp, API), in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str, int, int], int] = {}
        self._in_flight: dict[tuple[str, str], int] = {}
        self._pruned = 0.0

    def hit(self, checks: list[tuple[str, str, str, int, int]], now: float) -> bool:
        """Count one call in every (scope, who, api, window seconds, limit) window; False (nothing counted)
        when one of them is already full."""
        with self._lock:
            if now - self._pruned > 60:
                self._prune(now)
            keys = [(scope, who, api, window, int(now // window)) for scope, who, api, window, _ in checks]
            if any(self._counts.get(key, 0) >= limit for key, (*_, limit) in zip(keys, checks, strict=True)):
                return False
            for key in keys:
                self._counts[key] = self._counts.get(key, 0) + 1
            return True

    def _prune(self, now: float) -> None:
        self._pruned = now
        for key in [k for k in self._counts if k[4] < int(now // k[3]) - 1]:
            del self._counts[key]

    def enter(self, key: tuple[str, str], limit: int) -> bool:
        with self._lock:
            if self._in_flight.get(key, 0) >= limit:
                return False
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            return True

    def leave(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)


def parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(47001, "data format error, Warning: wrong json format.") from None
    if not isinstance(data, dict):
        raise ApiError(47001, "data format error, Warning: wrong json format.")
    return data


def _token(call: Call) -> None:
    token = call.query.get("access_token", "")
    if not token:
        raise ApiError(41001, "access_token missing")
    row = call.sim.store.one("SELECT * FROM access_tokens WHERE token = ?", token)
    if row is None:
        raise ApiError(40014, "invalid access_token")
    if row["expires_at"] <= call.now:
        raise ApiError(42001, "access_token expired")
    call.account, call.kind = row["account"], row["kind"]


def _endpoint(call: Call, registry: Registry) -> Endpoint:
    tokenless = registry.wecom.get(call.api) or registry.oa.get(call.api)
    if tokenless is not None and tokenless.tokenless:
        call.account = call.q("corpid") or call.q("appid")
        return tokenless
    _token(call)
    family = registry.oa if call.kind == OA else registry.wecom
    endpoint = family.get(call.api)
    if endpoint is None:
        raise ApiError(48002, "api forbidden")
    if call.kind not in endpoint.kinds:
        raise ApiError(48002, "api forbidden")
    return endpoint


def _rate_limit(call: Call, limits: Limits) -> None:
    cfg = call.sim.config
    checks = [
        ("ip", call.ip, call.api, 60, cfg.ip_per_minute),
        ("ip", call.ip, call.api, 3600, cfg.ip_per_hour),
    ]
    if call.account:
        checks += [
            ("corp", call.account, call.api, 60, cfg.corp_per_minute),
            ("corp", call.account, call.api, 3600, cfg.corp_per_hour),
        ]
    if call.q("debug") == "1":
        checks.append(("debug", call.account or call.ip, call.api, 60, cfg.debug_per_minute))
    if not limits.hit(checks, call.now):
        raise ApiError(45009, "api freq out of limit")


def _fault(call: Call) -> None:
    # read first: the common path (no fault queued) must not take the file's write lock on every call
    row = call.sim.store.one(
        "SELECT * FROM faults WHERE api = ? AND remaining > 0 ORDER BY id LIMIT 1", call.api
    )
    if row is None:
        return
    with call.sim.store.tx() as db:
        taken = db.execute(
            "UPDATE faults SET remaining = remaining - 1 WHERE id = ? AND remaining > 0", (row["id"],)
        ).rowcount
    if taken:
        raise ApiError(row["errcode"], "injected fault" if row["errcode"] != -1 else "system busy")


def handle(call: Call, raw_body: bytes, limits: Limits, registry: Registry = REGISTRY) -> dict[str, Any]:
    """Answer one API call: the JSON object to send back with HTTP 200."""
    try:
        endpoint = _endpoint(call, registry)
        _rate_limit(call, limits)
        key = (call.account or call.ip, call.api)
        if not limits.enter(key, call.sim.config.max_concurrency):
            raise ApiError(45033, "api concurrent out of limit")
        try:
            if call.sim.config.api_latency:
                time.sleep(call.sim.config.api_latency)
            _fault(call)
            call.body = parse_body(raw_body) if call.method == "POST" else {}
            result = endpoint.handler(call)
        finally:
            limits.leave(key)
    except ApiError as exc:
        return {"errcode": exc.errcode, "errmsg": exc.errmsg(call.ip)}
    if endpoint.bare:
        return result
    return {"errcode": 0, "errmsg": "ok", **result}
