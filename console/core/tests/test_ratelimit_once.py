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


def test_retry_after_says_when_the_next_attempt_gets_through(monkeypatch):
    clock = [600 * 100 + 120.0]  # two minutes into a five-minute window
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    assert ratelimit.retry_after("test-wait", "u", limit=3, window=300) == 0
    assert [ratelimit.hit("test-wait", "u", limit=3, window=300) for _ in range(4)] == [True, True, True, False]
    wait = ratelimit.retry_after("test-wait", "u", limit=3, window=300)
    # Four attempts in this window: the next gets through once this window's share has slid down
    # to 2 (1 + 4 x (1 - f) <= 3), half-way through the next window: 180 + 150 seconds from now.
    assert wait == 330
    clock[0] += wait - 1
    assert ratelimit.retry_after("test-wait", "u", limit=3, window=300) == 1
    clock[0] += 1
    assert ratelimit.retry_after("test-wait", "u", limit=3, window=300) == 0
    assert ratelimit.hit("test-wait", "u", limit=3, window=300)


def test_retry_after_within_the_window_when_the_previous_one_was_busy(monkeypatch):
    clock = [300 * 200 + 290.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    for _ in range(4):
        ratelimit.hit("test-wait2", "u", limit=4, window=300)
    clock[0] += 20  # 10 s into the next window: 4 x (1 - 10/300) = 3.87 still counts
    assert not ratelimit.hit("test-wait2", "u", limit=4, window=300)  # 1 + 3.87 > 4
    wait = ratelimit.retry_after("test-wait2", "u", limit=4, window=300)
    # The next one counts 2 + 4 x (1 - f) <= 4 once f >= 1/2: 150 s into the window, 140 s from now.
    assert wait == 140
    clock[0] += wait
    assert ratelimit.hit("test-wait2", "u", limit=4, window=300)
