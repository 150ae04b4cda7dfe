"""``once_per``: at most one call per interval, measured from the allowed call."""

from console.core import ratelimit


def test_once_per_lets_one_call_through_per_interval(settings):
    assert ratelimit.once_per("test-once", "k1", seconds=10)
    assert not ratelimit.once_per("test-once", "k1", seconds=10)  # even across a 10-second boundary
    assert ratelimit.once_per("test-once", "k2", seconds=10)  # per key


def test_a_burst_across_a_window_boundary_is_still_limited(monkeypatch):
    clock = [1000 * 60 + 59.0]  # one second before a 60-second window ends
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    allowed = [ratelimit.hit("test-burst", "ip", limit=5, window=60) for _ in range(5)]
    assert allowed == [True] * 5
    clock[0] += 2  # one second into the next window: the last window still counts almost fully
    assert not ratelimit.hit("test-burst", "ip", limit=5, window=60)
    clock[0] += 58  # most of a window later, the earlier burst has nearly slid out
    assert ratelimit.hit("test-burst", "ip", limit=5, window=60)
