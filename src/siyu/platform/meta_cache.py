"""A per-process memo of object metadata (an object's definition and its custom fields), kept honest by a
per-organisation generation token in the shared cache.

Why: every list, detail and write of a standard object (leads, opportunities, profiles, …) needs its
:class:`~siyu.platform.selectors.ObjectMeta`, which cost two queries and their ORM compilation per request (about
a fifth of a lead detail request's server time). Definitions change rarely and only through
``platform.services``, so a request now reads one cache key (the organisation's generation token) and, when the
token is the one the memo was built under, uses the memo.

Correctness across processes: a service that changes a definition sets a new random token twice — at once (so the
rest of its own transaction, and the whole of it where the cache is the database's and so transactional, sees the
change) and again after commit (so a process that read the old rows while the transaction was open and memoised
them under the first token does not keep them). Random tokens rather than a counter: two concurrent changes can
never produce the same value, whatever the cache backend's ``incr`` guarantees. A token that went missing
(eviction, culling, expiry) is replaced by a new one, which makes every memo miss.

When the cache fails (Redis down), definitions are read from the database on every call, as before this memo, and
nothing fails: the metadata must not make the API depend on Redis. A change made while the cache was down cannot
move the token, so tokens expire after ``TOKEN_SECONDS``: a process that memoised under the old token before the
outage rereads at the latest then.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from typing import Any

from django.core.cache import cache
from django.db import transaction

MAX_ENTRIES = 512  # organisations x objects a process serves; the oldest is dropped past this
TOKEN_SECONDS = 600  # bounds staleness after a change the cache could not record; costs one reread per 10 min

log = logging.getLogger(__name__)

_memo: OrderedDict[tuple[int, str, str], Any] = OrderedDict()
_lock = threading.Lock()


def _key(org_id: int) -> str:
    return f"siyu:platform:meta-generation:{int(org_id)}"


def generation(org_id: int) -> str:
    """The organisation's current token (one cache read; a new token when there is none). A fresh random value,
    which no memo holds, when the cache fails or keeps nothing."""
    key = _key(org_id)
    try:
        token = cache.get(key)
        if token is None:
            cache.add(key, uuid.uuid4().hex, timeout=TOKEN_SECONDS)
            token = cache.get(key)
    except Exception:  # noqa: BLE001 - a broken cache must not take the API down: read the database instead
        log.exception("metadata generation token unavailable; reading definitions from the database")
        token = None
    return token if token is not None else uuid.uuid4().hex


def _new_token(key: str) -> None:
    try:
        cache.set(key, uuid.uuid4().hex, timeout=TOKEN_SECONDS)
    except Exception:  # noqa: BLE001 - the change is committed regardless; TOKEN_SECONDS bounds the staleness
        log.exception("metadata generation token not moved; other processes reread within %ss", TOKEN_SECONDS)


def changed(org_id: int) -> None:
    """A definition of the organisation changed: new token now and after commit."""
    key = _key(org_id)
    _new_token(key)
    transaction.on_commit(lambda: _new_token(key))


def get(org_id: int, object_key: str, token: str) -> Any | None:
    with _lock:
        return _memo.get((int(org_id), object_key, token))


def put(org_id: int, object_key: str, token: str, value: Any) -> None:
    with _lock:
        _memo[(int(org_id), object_key, token)] = value
        while len(_memo) > MAX_ENTRIES:
            _memo.popitem(last=False)


def clear() -> None:
    """Forget everything memoised (tests: ids are reused after a rollback)."""
    with _lock:
        _memo.clear()
