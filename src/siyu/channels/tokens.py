"""Access tokens of WeCom and the official account: cached across processes, fetched by one process at a time,
refreshed once when refused.

``gettoken`` (WeCom) and ``cgi-bin/token`` (official account) are themselves rate-limited and each token lives
7200 s, so every process shares one cached token per (account, secret). A ``TokenStore`` holds it; two implementations:

* ``InMemoryTokenStore``: one process (tests, the CLI);
* ``DjangoCacheTokenStore``: Django's cache (the database cache by default, Redis with ``REDIS_URL``), with
  ``cache.add`` as the cross-process lock. Django is imported lazily so this module imports without settings.

``AccessTokens`` implements the protocol: read the cache; on a miss take the lock, read again (someone else may
have fetched meanwhile), fetch, store for ``expires_in`` minus a safety margin. ``refresh(stale)`` is what the
client calls when the platform refuses a token (WeCom 40014/42001/42009): under the lock, a token different from the stale one is reused, otherwise a
new one is fetched, so a burst of refused calls causes one ``gettoken``.

The cache holds the token in clear for up to two hours; the long-lived secret is never stored here.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

logger = logging.getLogger(__name__)

EXPIRY_MARGIN = 300  # seconds before WeCom's expiry at which a cached token is no longer used


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int  # seconds, as returned by gettoken (7200)


class TokenStore(abc.ABC):
    """Shared storage for access tokens plus a mutual-exclusion lock per key."""

    @abc.abstractmethod
    def get(self, key: str) -> str | None: ...

    @abc.abstractmethod
    def set(self, key: str, token: str, ttl: int) -> None: ...

    @abc.abstractmethod
    def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    @contextmanager
    def lock(self, key: str) -> Iterator[bool]:
        """Hold the lock for ``key`` inside the block; yields False when it could not be had in time."""


class InMemoryTokenStore(TokenStore):
    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> str | None:
        item = self._tokens.get(key)
        if item is None or item[1] <= self._clock():
            return None
        return item[0]

    def set(self, key: str, token: str, ttl: int) -> None:
        self._tokens[key] = (token, self._clock() + ttl)

    def delete(self, key: str) -> None:
        self._tokens.pop(key, None)

    @contextmanager
    def lock(self, key: str) -> Iterator[bool]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield True


class DjangoCacheTokenStore(TokenStore):
    """Tokens in a Django cache; the lock is a cache key created with ``add`` (atomic in the db and Redis caches).

    A holder that dies leaves the lock to expire after ``lock_ttl``; a waiter gives up after ``lock_wait`` and
    proceeds unlocked (one extra ``gettoken`` is better than a stuck worker).
    """

    def __init__(
        self,
        *,
        alias: str = "default",
        lock_ttl: int = 30,
        lock_wait: float = 15.0,
        poll: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.alias, self.lock_ttl, self.lock_wait, self.poll = alias, lock_ttl, lock_wait, poll
        self._sleep, self._clock = sleep, clock

    @property
    def _cache(self):
        from django.core.cache import caches  # lazy: importing this module needs no settings

        return caches[self.alias]

    def get(self, key: str) -> str | None:
        return self._cache.get(key)

    def set(self, key: str, token: str, ttl: int) -> None:
        self._cache.set(key, token, timeout=ttl)

    def delete(self, key: str) -> None:
        self._cache.delete(key)

    @contextmanager
    def lock(self, key: str) -> Iterator[bool]:
        lock_key, owner = f"{key}:lock", secrets.token_hex(8)
        deadline = self._clock() + self.lock_wait
        acquired = self._cache.add(lock_key, owner, timeout=self.lock_ttl)
        while not acquired and self._clock() < deadline:
            self._sleep(self.poll)
            acquired = self._cache.add(lock_key, owner, timeout=self.lock_ttl)
        if not acquired:
            logger.warning("access token lock not acquired in %.1fs; fetching without it", self.lock_wait)
        try:
            yield acquired
        finally:
            # Only the owner releases; get-then-delete can race with expiry, which at worst frees the lock early.
            if acquired and self._cache.get(lock_key) == owner:
                self._cache.delete(lock_key)


def token_key(account: str, secret: str, *, channel: str = "wecom") -> str:
    """Cache key per (channel, account, secret): each app secret has its own token. The secret is only hashed.

    ``account`` is the WeCom corp id or the official account's AppID.
    """
    digest = hashlib.sha256(f"{account}\0{secret}".encode()).hexdigest()[:24]
    return f"siyu:{channel}:token:{account}:{digest}"


class AccessTokens:
    """The access token of one (account, secret), shared through a ``TokenStore``."""

    def __init__(self, *, key: str, store: TokenStore, fetch: Callable[[], IssuedToken]):
        self.key, self._store, self._fetch = key, store, fetch

    def get(self) -> str:
        token = self._store.get(self.key)
        if token:
            return token
        with self._store.lock(self.key):
            token = self._store.get(self.key)  # another process may have fetched while we waited
            if token:
                return token
            return self._fetch_and_store()

    def refresh(self, stale: str) -> str:
        """A token other than ``stale``: the one someone else already fetched, or a new one."""
        with self._store.lock(self.key):
            token = self._store.get(self.key)
            if token and token != stale:
                return token
            self._store.delete(self.key)
            return self._fetch_and_store()

    def _fetch_and_store(self) -> str:
        issued = self._fetch()
        margin = min(
            EXPIRY_MARGIN, issued.expires_in // 4
        )  # short-lived tokens (the simulator) keep most of their life
        self._store.set(self.key, issued.token, max(1, issued.expires_in - margin))
        return issued.token


_default_store_lock = threading.Lock()
_default_store: InMemoryTokenStore | None = None


def default_token_store() -> InMemoryTokenStore:
    """The process-wide in-memory store, so clients built per request still share their tokens."""
    global _default_store
    with _default_store_lock:
        if _default_store is None:
            _default_store = InMemoryTokenStore()
        return _default_store
