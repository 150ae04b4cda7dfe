"""``once_per``: at most one call per interval, measured from the allowed call."""

from console.core import ratelimit


def test_once_per_lets_one_call_through_per_interval(settings):
    assert ratelimit.once_per("test-once", "k1", seconds=10)
    assert not ratelimit.once_per("test-once", "k1", seconds=10)  # even across a 10-second boundary
    assert ratelimit.once_per("test-once", "k2", seconds=10)  # per key
