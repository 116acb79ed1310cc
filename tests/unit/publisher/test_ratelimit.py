import pytest

from services.publisher.domain.ratelimit import Limit, RateLimiter, TokenBucket


def test_burst_then_waits_at_the_refill_rate():
    bucket = TokenBucket(rate_per_s=2.0, burst=3)
    assert [bucket.try_acquire(10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_acquire(10.0) == pytest.approx(0.5)
    assert bucket.try_acquire(10.25) == pytest.approx(0.25)
    assert bucket.try_acquire(10.5) == 0.0
    assert bucket.try_acquire(10.5) == pytest.approx(0.5)


def test_refill_never_exceeds_burst():
    bucket = TokenBucket(rate_per_s=1.0, burst=2)
    bucket.try_acquire(0.0)
    bucket.try_acquire(0.0)
    assert bucket.try_acquire(1000.0) == 0.0
    assert bucket.try_acquire(1000.0) == 0.0
    assert bucket.try_acquire(1000.0) == pytest.approx(1.0)


def test_clock_going_backwards_adds_nothing():
    bucket = TokenBucket(rate_per_s=1.0, burst=1)
    assert bucket.try_acquire(5.0) == 0.0
    assert bucket.try_acquire(4.0) == pytest.approx(1.0)


def test_limiter_takes_from_every_bucket_or_none():
    limiter = RateLimiter(default_limits={"account": Limit(1.0, 1), "channel": Limit(10.0, 2)})
    keys_a = [("account", "a"), ("channel", "mastodon")]
    keys_b = [("account", "b"), ("channel", "mastodon")]
    assert limiter.try_acquire(keys_a, 0.0) == 0.0
    # account a is empty: refused, and the channel token is not spent
    assert limiter.try_acquire(keys_a, 0.0) == pytest.approx(1.0)
    assert limiter.try_acquire(keys_b, 0.0) == 0.0
    # channel bucket (burst 2) is now empty for a third account
    assert limiter.try_acquire([("account", "c"), ("channel", "mastodon")], 0.0) == pytest.approx(
        0.1
    )


def test_unconfigured_keys_are_unlimited_and_configure_overrides():
    limiter = RateLimiter()
    assert all(limiter.try_acquire([("channel", "rss")], 0.0) == 0.0 for _ in range(100))
    limiter.configure(("channel", "rss"), Limit(0.5, 1))
    assert limiter.try_acquire([("channel", "rss")], 0.0) == 0.0
    assert limiter.try_acquire([("channel", "rss")], 0.0) == pytest.approx(2.0)
