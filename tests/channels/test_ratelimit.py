"""The token-bucket limiter used under WeCom's published limits."""

import pytest

from siyu.channels.errors import ChannelRateLimited
from siyu.channels.ratelimit import TokenBucketLimiter
from siyu.channels.wecom.client import DEFAULT_BURST, DEFAULT_RATE_PER_SECOND


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_burst_then_waits_at_the_refill_rate():
    clock = Clock()
    limiter = TokenBucketLimiter(rate=2, capacity=3, max_wait=5, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire("ww1:externalcontact/get")
    assert clock.slept == []
    limiter.acquire("ww1:externalcontact/get")
    limiter.acquire("ww1:externalcontact/get")
    assert clock.slept == [pytest.approx(0.5), pytest.approx(0.5)]


def test_beyond_max_wait_it_refuses_with_retry_after():
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1, capacity=1, max_wait=0.5, clock=clock, sleep=clock.sleep)
    limiter.acquire("k")
    with pytest.raises(ChannelRateLimited) as err:
        limiter.acquire("k")
    assert err.value.retry_after == pytest.approx(1.0) and err.value.retryable
    clock.now += 1
    limiter.acquire("k")  # refilled; the refusal consumed nothing


def test_keys_have_separate_buckets():
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1, capacity=1, max_wait=0, clock=clock, sleep=clock.sleep)
    limiter.acquire("ww1:a")
    limiter.acquire("ww1:b")
    limiter.acquire("ww2:a")
    assert limiter.available("ww1:a") == pytest.approx(0)
    assert limiter.available("never-used") == 1


def test_defaults_stay_under_wecoms_published_limits():
    # per corp per API ≤ 10 000 calls a minute and ≤ 150 000 an hour (protocol document §2.1)
    clock = Clock()
    limiter = TokenBucketLimiter(
        rate=DEFAULT_RATE_PER_SECOND, capacity=DEFAULT_BURST, max_wait=60, clock=clock, sleep=clock.sleep
    )
    calls_in_first_minute = 0
    while clock.now < 60:
        limiter.acquire("ww1:api")
        calls_in_first_minute += 1 if clock.now < 60 else 0
    assert 3200 <= calls_in_first_minute <= DEFAULT_BURST + 60 * DEFAULT_RATE_PER_SECOND <= 10_000
    assert DEFAULT_BURST + 3600 * DEFAULT_RATE_PER_SECOND <= 150_000


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (1, 0)])
def test_invalid_configuration(rate, capacity):
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate=rate, capacity=capacity)
