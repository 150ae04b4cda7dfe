"""The decision hot path with its process caches on, as in production: the database stays
untouched in the common case, and every change still reaches the next decision."""

from __future__ import annotations

import pytest

from accounts.services import groups, people
from console.access import decisions, hotcache, logbuffer, services
from console.access.models import AccessLogEntry, AccessSession

pytestmark = pytest.mark.django_db(transaction=True)  # changes really commit, as in production

ISSUER = "http://testserver"


@pytest.fixture(autouse=True)
def _hot(hot_path):
    yield


@pytest.fixture
def setup(make_engineers_wiki):
    return make_engineers_wiki()


def decide(app, **kwargs):
    return decisions.decide(application=app, source="api", issuer=ISSUER, **kwargs)


def test_repeated_decisions_do_not_touch_the_database(setup, employee, django_assert_num_queries):
    app, _, _ = setup
    first = decide(app, email=employee.email)
    assert first.outcome == "allow"
    with django_assert_num_queries(0):
        again = decide(app, email=employee.email)
        by_token = decide(app, token=first.token)
    assert again.outcome == by_token.outcome == "allow"
    assert again.session.pk == by_token.session.pk == first.session.pk
    assert AccessLogEntry.objects.count() == 0  # still in the buffer
    assert logbuffer.flush() == 3
    assert list(AccessLogEntry.objects.values_list("outcome", flat=True)) == ["allow"] * 3


def test_a_revocation_reaches_the_next_decision_without_a_cache_refresh(setup, employee, super_admin):
    app, _, _ = setup
    first = decide(app, email=employee.email)
    services.session_revoke(actor=super_admin, session=AccessSession.objects.get())
    refused = decide(app, token=first.token)
    assert refused.outcome == "deny" and "revoked" in refused.problem
    fresh = decide(app, email=employee.email)
    assert fresh.outcome == "allow" and fresh.session.pk != first.session.pk


def test_policy_and_membership_changes_reach_the_next_decision(setup, employee, super_admin):
    app, policy, group = setup
    assert decide(app, email=employee.email).outcome == "allow"
    services.policy_update(actor=super_admin, policy=policy, name=policy.name, action="block", rules=policy.rules)
    assert decide(app, email=employee.email).outcome == "deny"
    services.policy_update(actor=super_admin, policy=policy, name=policy.name, action="allow", rules=policy.rules)
    assert decide(app, email=employee.email).outcome == "allow"
    groups.group_remove_member(actor=super_admin, group=group, user=employee)
    assert decide(app, email=employee.email).outcome == "deny"


def test_deactivation_and_revoked_tokens_reach_the_next_decision(setup, employee, super_admin):
    app, _, _ = setup
    first = decide(app, email=employee.email)
    people.user_deactivate(actor=super_admin, user=employee)
    assert decide(app, token=first.token).outcome == "deny"
    assert decide(app, email=employee.email).outcome == "deny"


def test_a_revoked_api_token_is_refused_at_once(client, setup, employee, super_admin):
    import json

    app, _, _ = setup
    token, secret = services.api_token_create(actor=super_admin, name="edge", scopes=["access:decide"])

    def call():
        return client.post("/api/v1/access/decide", data=json.dumps({"application": app.aud,
                                                                         "user": {"email": employee.email}}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert call().json()["decision"] == "allow"
    services.api_token_revoke(actor=super_admin, token=token)
    assert call().status_code == 401


def test_the_buffered_log_writes_every_field(setup, employee):
    app, _, _ = setup
    outcome = decide(app, email=employee.email, ip="8.8.8.8")
    decide(app, email="nobody@corp.example")
    assert logbuffer.flush() == 2
    allowed, denied = AccessLogEntry.objects.order_by("id")
    assert (allowed.outcome, allowed.email, allowed.policy_name, allowed.country, allowed.ip) == (
        "allow", employee.email, "Engineers", "US", "8.8.8.8")
    assert allowed.session_id == outcome.session.pk and allowed.source == "api"
    assert denied.outcome == "deny" and "no active user" in denied.reason and denied.challenge == []


def test_a_session_opened_by_another_process_is_remembered_after_one_lookup(
    setup, employee, django_assert_num_queries
):
    app, _, _ = setup
    first = decide(app, email=employee.email)
    hotcache.clear()  # as if this process had never seen it
    decide(app, email=employee.email)  # loads the person and finds the open session in the database
    with django_assert_num_queries(0):
        again = decide(app, email=employee.email)
    assert again.session.pk == first.session.pk


def test_a_fresh_token_is_reused_until_its_claims_change(setup, employee, super_admin):
    app, policy, _ = setup
    first = decide(app, email=employee.email, country="DE")
    assert decide(app, email=employee.email, country="DE").token == first.token
    moved = decide(app, email=employee.email, country="FR")
    assert moved.token != first.token  # another country is another claim
    services.policy_update(actor=super_admin, policy=policy, name="Engineers, renamed", action="allow",
                           rules=policy.rules)
    assert decide(app, email=employee.email, country="FR").token != moved.token
