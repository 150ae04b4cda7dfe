"""Revocations and decisions when Redis loses its data or hangs, against a redis-server of the
test's own (restarted, flushed, frozen with SIGSTOP): the database stays the source of truth
for revocations, and a decision never waits on Redis for long."""

from __future__ import annotations

import json
import time

import pytest
import redis

from console.access import decisions, hotcache, services
from console.access.models import AccessSession

pytestmark = pytest.mark.django_db(transaction=True)  # changes really commit, as in production

ISSUER = "http://testserver"


@pytest.fixture(autouse=True)
def _hot(hot_path, own_redis):
    yield


@pytest.fixture
def wiki(make_engineers_wiki):
    return make_engineers_wiki()[0]


def decide(app, **kwargs):
    return decisions.decide(application=app, source="api", issuer=ISSUER, **kwargs)


def _revoked_token(wiki, employee, super_admin) -> str:
    first = decide(wiki, email=employee.email)
    assert first.outcome == "allow"
    services.session_revoke(actor=super_admin, session=AccessSession.objects.get())
    refused = decide(wiki, token=first.token)
    assert refused.outcome == "deny" and "revoked" in refused.problem
    return first.token


@pytest.mark.parametrize("loss", ["restart", "flushall"])
def test_a_revoked_token_stays_refused_when_redis_loses_its_data(wiki, employee, super_admin, own_redis, loss):
    token = _revoked_token(wiki, employee, super_admin)
    if loss == "restart":
        own_redis.restart()  # no persistence: an empty Redis on the same port
    else:
        redis.Redis.from_url(own_redis.url).flushall()
    hotcache.clear()  # any process, including one that never saw the revocation
    refused = decide(wiki, token=token)
    assert refused.outcome == "deny" and "revoked" in refused.problem
    assert refused.session is None and refused.token == ""
    assert AccessSession.objects.count() == 1  # no new session was opened for the token
    # The markers were rebuilt from the database: the next check needs no query.
    client = redis.Redis.from_url(own_redis.url)
    assert any(client.hget(key, "epoch") for key in client.scan_iter(match="*access:state"))


def test_after_the_rebuild_refusing_a_revoked_token_takes_no_query(
    wiki, employee, super_admin, own_redis, django_assert_num_queries,
):
    token = _revoked_token(wiki, employee, super_admin)
    own_redis.restart()
    assert decide(wiki, token=token).outcome == "deny"  # rebuilds
    with django_assert_num_queries(0):
        assert decide(wiki, token=token).outcome == "deny"


def test_a_session_revoked_only_in_the_database_never_lets_its_token_open_another(
    wiki, employee, settings,
):
    settings.ACCESS_SESSION_WRITE_SECONDS = 0  # every allow writes the session back
    first = decide(wiki, email=employee.email)
    # Revoked by hand in the database, without a marker (as if the marker had been lost).
    AccessSession.objects.update(revoked_at=first.session.expires_at.replace(year=2000))
    refused = decide(wiki, token=first.token)
    assert refused.outcome == "deny" and "revoked" in refused.problem
    assert AccessSession.objects.count() == 1


def test_a_token_decision_is_still_one_redis_command(wiki, employee, own_redis):
    first = decide(wiki, email=employee.email)
    decide(wiki, token=first.token)  # warm
    client = redis.Redis.from_url(own_redis.url)
    client.config_resetstat()
    assert decide(wiki, token=first.token).outcome == "allow"
    stats = client.info("commandstats")
    calls = {name: value["calls"] for name, value in stats.items() if not name.startswith("cmdstat_config")}
    assert calls == {"cmdstat_hmget": 1}


def test_revocations_that_do_not_reach_redis_are_refused_with_the_database(wiki, employee, super_admin, own_redis):
    first = decide(wiki, email=employee.email)
    second_person_token = first.token
    own_redis.restart()  # lost before anything was revoked
    services.session_revoke(actor=super_admin, session=AccessSession.objects.get())
    assert decide(wiki, token=second_person_token).outcome == "deny"


def test_a_hung_redis_fails_decisions_closed_quickly_and_they_recover(client, wiki, employee, super_admin, own_redis):
    _, secret = services.api_token_create(actor=super_admin, name="edge", scopes=["access:decide"])

    def call():
        started = time.monotonic()
        answer = client.post("/api/v1/access/decide", data=json.dumps({"application": wiki.aud,
                                                                          "user": {"email": employee.email}}),
                             content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
        return answer, time.monotonic() - started

    answer, _ = call()
    assert answer.json()["decision"] == "allow"
    hotcache.clear()
    own_redis.freeze()
    try:
        answer, took = call()
        assert answer.json()["decision"] == "deny" and "internal error" in answer.json()["reason"]
        assert took < 2.5
    finally:
        own_redis.thaw()
    answer, _ = call()
    assert answer.json()["decision"] == "allow"
