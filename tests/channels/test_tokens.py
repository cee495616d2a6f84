"""Access-token caching across "processes" (instances sharing a store) with a lock, and the refresh protocol."""

import threading
import time

import pytest

from siyu.channels.tokens import (
    AccessTokens,
    DjangoCacheTokenStore,
    InMemoryTokenStore,
    IssuedToken,
    token_key,
)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Issuer:
    """gettoken stand-in: T1, T2, … and a count of calls."""

    def __init__(self, expires_in=7200, delay=0.0):
        self.calls, self.expires_in, self.delay = 0, expires_in, delay
        self._lock = threading.Lock()

    def __call__(self):
        time.sleep(self.delay)
        with self._lock:
            self.calls += 1
            return IssuedToken(token=f"T{self.calls}", expires_in=self.expires_in)


def test_token_key_hides_the_secret_and_separates_secrets():
    a, b = token_key("ww1", "secret-a"), token_key("ww1", "secret-b")
    assert a != b and "secret-a" not in a and a.startswith("siyu:wecom:token:ww1:")


def test_cached_until_shortly_before_expiry():
    clock, issuer = Clock(), Issuer()
    tokens = AccessTokens(key="k", store=InMemoryTokenStore(clock=clock), fetch=issuer)
    assert tokens.get() == "T1"
    clock.now += 6899  # 7200 - 300 s margin
    assert tokens.get() == "T1"
    clock.now += 2
    assert tokens.get() == "T2" and issuer.calls == 2


def test_short_lived_tokens_keep_three_quarters_of_their_life():
    clock, issuer = Clock(), Issuer(expires_in=100)
    tokens = AccessTokens(key="k", store=InMemoryTokenStore(clock=clock), fetch=issuer)
    tokens.get()
    clock.now += 74
    assert tokens.get() == "T1"
    clock.now += 2
    assert tokens.get() == "T2"


def test_refresh_fetches_only_when_the_stale_token_is_still_cached():
    issuer = Issuer()
    store = InMemoryTokenStore()
    first, second = (
        AccessTokens(key="k", store=store, fetch=issuer),
        AccessTokens(key="k", store=store, fetch=issuer),
    )
    stale = first.get()
    assert first.refresh(stale) == "T2"  # refused token still cached: fetch a new one
    assert second.refresh(stale) == "T2"  # another process already refreshed: reuse it
    assert issuer.calls == 2


def test_concurrent_misses_fetch_once_in_memory():
    issuer = Issuer(delay=0.05)
    store = InMemoryTokenStore()
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(AccessTokens(key="k", store=store, fetch=issuer).get())
        )
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["T1"] * 8 and issuer.calls == 1


# --- Django cache (the database cache by default; Redis in production with REDIS_URL) -------------------


@pytest.mark.django_db
def test_database_cache_shares_the_token_between_processes():
    from django.core.cache import caches

    issuer = Issuer()
    store_a, store_b = DjangoCacheTokenStore(), DjangoCacheTokenStore()  # two processes' stores, one cache
    assert AccessTokens(key="siyu:test:k", store=store_a, fetch=issuer).get() == "T1"
    assert AccessTokens(key="siyu:test:k", store=store_b, fetch=issuer).get() == "T1"
    assert issuer.calls == 1
    assert caches["default"].get("siyu:test:k") == "T1"
    assert AccessTokens(key="siyu:test:k", store=store_b, fetch=issuer).refresh("T1") == "T2"
    assert AccessTokens(key="siyu:test:k", store=store_a, fetch=issuer).get() == "T2"
    assert issuer.calls == 2


@pytest.mark.django_db
def test_database_cache_lock_is_exclusive_and_released():
    slept = []
    holder = DjangoCacheTokenStore()
    waiter = DjangoCacheTokenStore(
        lock_wait=0.2, poll=0.1, sleep=slept.append, clock=iter([0, 0.1, 0.3]).__next__
    )
    with holder.lock("siyu:test:k") as got:
        assert got is True
        with waiter.lock("siyu:test:k") as also:
            assert also is False  # gave up after lock_wait; the caller proceeds unlocked
        assert slept == [0.1]
    with DjangoCacheTokenStore(lock_wait=0).lock("siyu:test:k") as again:
        assert again is True


def test_locmem_cache_lock_serialises_threads(settings):
    settings.CACHES = {
        **settings.CACHES,
        "tokens": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "wecom-token-test",
        },
    }
    issuer = Issuer(delay=0.05)
    results = []

    def worker():
        store = DjangoCacheTokenStore(alias="tokens", poll=0.01)
        results.append(AccessTokens(key="siyu:test:threads", store=store, fetch=issuer).get())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["T1"] * 6 and issuer.calls == 1
