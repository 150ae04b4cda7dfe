"""Process caches keyed by request input stay bounded: unknown bearer tokens, client ids,
application hosts and e-mail addresses must not grow a web process without limit."""

from __future__ import annotations

import gc
import secrets
import threading
import tracemalloc

import pytest
from django.test import RequestFactory

from console.access import api, decisions, hotcache, services
from console.access.models import ApiToken
from console.core.lru import LRUCache
from risk.models import Level, UserRisk
from risk.selectors import risk_facts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _hot(settings):
    settings.ACCESS_HOT_CACHE = True
    hotcache.clear()
    yield
    hotcache.clear()


def _entries() -> int:
    return sum(len(t) for t in hotcache._tables.values())


def _random_bearer() -> str:
    return f"Bearer ztc_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def test_lru_cache_keeps_the_most_recent_entries():
    lru: LRUCache[str, int] = LRUCache(3)
    for i, key in enumerate("abc"):
        lru[key] = i
    assert lru.get("a") == 0  # "a" is now the most recent
    lru["d"] = 3
    assert "b" not in lru and list(lru) == ["c", "a", "d"] and len(lru) == 3
    assert lru.get("b", "gone") == "gone"
    with pytest.raises(KeyError):
        lru["b"]
    lru.update({"e": 4, "f": 5})
    assert list(lru) == ["d", "e", "f"]
    assert lru.pop("e") == 4 and len(lru) == 2
    with pytest.raises(ValueError):
        LRUCache(0)


def test_lru_cache_stays_bounded_under_threads():
    lru: LRUCache[int, int] = LRUCache(50)

    def work(start: int) -> None:
        for i in range(start, start + 2000):
            lru[i] = i
            lru.get(i - 1)

    threads = [threading.Thread(target=work, args=(n * 10_000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(lru) == 50


def test_ten_thousand_random_api_tokens_leave_the_caches_empty_and_memory_flat():
    """Every token API (decision, evaluate, risk, SSF) authenticates through ``_authenticate``."""
    factory = RequestFactory()

    def send(count: int) -> None:
        for _ in range(count):
            request = factory.post("/api/v1/access/decide", HTTP_AUTHORIZATION=_random_bearer())
            assert api.authenticate_api_token(request, ApiToken.Scope.ACCESS_DECIDE) is None

    send(1000)  # warm up: connections, compiled queries, interned strings
    gc.collect()
    tracemalloc.start()  # tracing is slow: watch a window of 1,000 of the 10,000
    try:
        before = tracemalloc.take_snapshot()
        send(1000)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    send(8000)
    # What the console's own code keeps (the tokens' prefixes, cache slots); the database driver's
    # and Django's own buffers come and go with the machine's load and are not what is measured.
    ours = [tracemalloc.Filter(True, "*/console/access/*"), tracemalloc.Filter(True, "*/console/core/*")]
    grown = sum(stat.size_diff for stat in after.filter_traces(ours).compare_to(before.filter_traces(ours),
                                                                               "filename"))
    # Keeping each miss cost over a hundred bytes a token; a flat line stays far below.
    assert grown < 16 * 1024, f"memory grew by {grown} bytes over 1,000 bad tokens"
    assert len(hotcache.table("api_tokens")) == 0
    assert _entries() == 0


@pytest.mark.parametrize("method,url", [
    ("post", "/api/v1/access/decide"),
    ("post", "/api/v1/gateway/evaluate"),
    ("get", "/api/v1/risk/users"),
    ("get", "/ssf/status"),
])
def test_bad_tokens_on_every_token_api_are_not_remembered(client, method, url):
    send = getattr(client, method)
    for _ in range(30):
        response = send(url, HTTP_AUTHORIZATION=_random_bearer())
        assert response.status_code in (401, 429)
    assert _entries() == 0


def test_unknown_service_tokens_hosts_and_people_are_not_remembered():
    for n in range(200):
        assert decisions.authenticate_service_token(f"{secrets.token_hex(8)}.access", "secret") is None
        assert decisions.application_for_host(f"h{n}.nowhere.example", "/") is None
        assert decisions.application_by_aud(secrets.token_hex(16)) is None
        assert decisions.person_by_email(f"nobody{n}@corp.example") is None
        assert decisions.device_by_id(secrets.token_hex(8)) is None
    assert _entries() == 0


def test_known_keys_from_requests_are_bounded_too(settings, super_admin):
    settings.ACCESS_CACHE_MAX_ENTRIES = 50
    app = services.application_create(actor=super_admin, name="Wiki", type="self_hosted",
                                       domain="wiki.corp.example")
    for n in range(500):  # the path is the visitor's: every one is a new key for a found app
        assert decisions.application_for_host("wiki.corp.example", f"/page/{n}") == app
    assert len(hotcache.table("apps_by_host")) == 50


def test_risk_levels_survive_a_tiny_cache(settings, make_user):
    settings.ACCESS_CACHE_MAX_ENTRIES = 1
    people = [make_user() for _ in range(5)]
    for person in people:
        UserRisk.objects.update_or_create(user=person, defaults={"level": Level.HIGH})
    for person in people * 2:
        assert risk_facts(person) == {"risk_level": Level.HIGH.key}
