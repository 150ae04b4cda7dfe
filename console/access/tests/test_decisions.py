"""The decision path end to end: API, sessions, tokens, revocation, re-evaluation."""

from __future__ import annotations

import json

import jwt
import pytest
from django.utils import timezone

from accounts.tests.factories import GroupFactory
from console.access import decisions, engine, policies, services
from console.access.models import AccessLogEntry, AccessSession, Application

pytestmark = pytest.mark.django_db

ISSUER = "http://testserver"


@pytest.fixture(autouse=True)
def _fresh_compiled_policies():
    policies.clear_local_cache()
    yield
    policies.clear_local_cache()


@pytest.fixture
def engineering(employee):
    group = GroupFactory(name="Engineering")
    group.members.add(employee)
    return group


@pytest.fixture
def wiki(super_admin, engineering):
    app = services.application_create(actor=super_admin, name="Wiki", type="self_hosted",
                                       domain="wiki.corp.example", session_seconds=3600)
    policy = services.policy_create(actor=super_admin, name="Engineers", action="allow", rules={
        "include": [{"type": "group", "values": [engineering.pk]}],
        "exclude": [{"type": "country", "values": ["KP"]}],
    })
    services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    return app


@pytest.fixture
def api_token(super_admin):
    _, secret = services.api_token_create(actor=super_admin, name="edge proxy", scopes=["access:decide"])
    return secret


def call(client, token, body, content_type="application/json"):
    return client.post("/api/v1/access/decide", data=json.dumps(body) if not isinstance(body, bytes) else body,
                       content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_an_allowed_user_gets_a_token_a_proxy_verifies_offline(client, wiki, employee, api_token):
    response = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email},
                                        "ip": "8.8.8.8"})
    body = response.json()
    assert response.status_code == 200 and body["decision"] == "allow"
    assert body["policy"]["name"] == "Engineers"
    jwks = client.get("/api/v1/access/jwks.json").json()
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(body["token"], key.key, algorithms=["ES256"], audience=wiki.aud, issuer=ISSUER)
    assert claims["email"] == employee.email and claims["country"] == "US"  # looked up offline
    session = AccessSession.objects.get()
    assert claims["jti"] == str(session.pk) == body["session_id"]
    assert abs(claims["exp"] - session.expires_at.timestamp()) < 2
    entry = AccessLogEntry.objects.get()
    assert (entry.outcome, entry.email, entry.policy_name) == ("allow", employee.email, "Engineers")
    assert entry.country == "US"


def test_each_allow_extends_the_same_session(client, wiki, employee, api_token):
    first = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email}}).json()
    second = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email}}).json()
    assert first["session_id"] == second["session_id"]
    assert AccessSession.objects.count() == 1
    again = call(client, api_token, {"application": wiki.aud, "token": first["token"]}).json()
    assert again["decision"] == "allow" and again["session_id"] == first["session_id"]


def test_a_revoked_session_refuses_its_token_at_the_next_check(client, wiki, employee, api_token, super_admin):
    allowed = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email}}).json()
    services.session_revoke(actor=super_admin, session=AccessSession.objects.get())
    refused = call(client, api_token, {"application": wiki.aud, "token": allowed["token"]}).json()
    assert refused["decision"] == "deny" and "revoked" in refused["reason"]
    assert refused["token"] is None
    log = AccessLogEntry.objects.order_by("-id").first()
    assert log.outcome == "deny" and "revoked" in log.reason


def test_a_token_for_another_application_is_refused(client, wiki, employee, api_token, super_admin):
    other = services.application_create(actor=super_admin, name="Git", type="self_hosted", domain="git.corp.example")
    allowed = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email}}).json()
    refused = call(client, api_token, {"application": other.aud, "token": allowed["token"]}).json()
    assert refused["decision"] == "deny" and "not valid" in refused["reason"]


def test_deny_by_default_and_exclusions(client, wiki, employee, make_user, api_token, super_admin):
    outsider = make_user("employee", email="out@corp.example")
    body = call(client, api_token, {"application": wiki.aud, "user": {"email": outsider.email}}).json()
    assert body["decision"] == "deny" and body["reason"] == "No policy matched: access is denied by default."
    excluded = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email},
                                        "country": "KP"}).json()
    assert excluded["decision"] == "deny"
    empty = services.application_create(actor=super_admin, name="Empty", type="bookmark", url="https://x.example")
    assert call(client, api_token, {"application": empty.aud, "user": {"email": employee.email}}).json()[
        "decision"] == "deny"


def test_step_up_is_a_challenge_that_says_what_to_prove(client, wiki, employee, api_token, super_admin):
    policy = wiki.policies.get()
    services.policy_update(actor=super_admin, policy=policy, name=policy.name, action="allow", rules={
        **policy.rules, "require": [{"type": "mfa_method", "values": ["security_key", "biometrics"],
                                     "max_age_minutes": 30}],
    })
    body = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email}}).json()
    assert body["decision"] == "challenge" and body["token"] is None
    assert body["challenge"] == [{"type": "mfa", "methods": ["security_key", "biometrics"], "max_age_seconds": 1800}]


def test_machines_pass_service_auth_with_a_service_token(client, wiki, api_token, super_admin):
    token, secret = services.service_token_create(actor=super_admin, name="backup job")
    policy = services.policy_create(actor=super_admin, name="Machines", action="service_auth", rules={
        "include": [{"type": "service_token", "values": [str(token.pk)]}]})
    services.application_set_policies(actor=super_admin, application=wiki,
                                      policy_ids=[*wiki.policies.values_list("pk", flat=True), policy.pk])
    ok = call(client, api_token, {"application": wiki.aud,
                                  "service_token": {"client_id": token.client_id, "client_secret": secret}}).json()
    assert ok["decision"] == "allow" and ok["policy"]["name"] == "Machines"
    bad = call(client, api_token, {"application": wiki.aud,
                                   "service_token": {"client_id": token.client_id, "client_secret": "guess"}}).json()
    assert bad["decision"] == "deny"
    services.service_token_revoke(actor=super_admin, token=token)
    assert AccessSession.objects.get().revoked_at is not None
    gone = call(client, api_token, {"application": wiki.aud,
                                    "service_token": {"client_id": token.client_id, "client_secret": secret}}).json()
    assert gone["decision"] == "deny"


def test_applications_are_found_by_hostname_and_longest_path(client, wiki, employee, api_token, super_admin):
    admin = services.application_create(actor=super_admin, name="Wiki admin", type="self_hosted",
                                        domain="wiki.corp.example", path="/admin")
    assert call(client, api_token, {"application": {"hostname": "wiki.corp.example", "path": "/admin/users"},
                                    "user": {"email": employee.email}}).json()["decision"] == "deny"
    assert AccessLogEntry.objects.last().application_id == admin.pk
    assert call(client, api_token, {"application": {"hostname": "wiki.corp.example", "path": "/administrator"},
                                    "user": {"email": employee.email}}).json()["decision"] == "allow"
    assert call(client, api_token, {"application": {"hostname": "nope.corp.example"},
                                    "user": {"email": employee.email}}).status_code == 404


@pytest.mark.parametrize("header", ["", "Bearer nonsense", "Bearer ztc_abc_def", "Basic dXNlcjpwYXNz"])
def test_the_api_needs_a_valid_token(client, wiki, employee, header):
    response = client.post("/api/v1/access/decide", data=json.dumps({"application": wiki.aud}),
                           content_type="application/json", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and response.json()["decision"] == "deny"


def test_a_revoked_api_token_is_refused(client, wiki, employee, super_admin):
    token, secret = services.api_token_create(actor=super_admin, name="old proxy", scopes=["access:decide"])
    services.api_token_revoke(actor=super_admin, token=token)
    assert call(client, secret, {"application": wiki.aud, "user": {"email": employee.email}}).status_code == 401


def test_the_api_fails_closed_on_internal_errors(client, wiki, employee, api_token, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(engine, "decide", explode)
    response = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email}})
    assert response.status_code == 200
    assert response.json()["decision"] == "deny" and "internal error" in response.json()["reason"]


def test_bad_input_is_a_deny_that_says_what_is_wrong(client, wiki, api_token, employee):
    response = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email}, "ip": "nope"})
    assert response.status_code == 400
    assert response.json() | {} == response.json()
    assert response.json()["decision"] == "deny" and response.json()["field"] == "ip"
    response = call(client, api_token, {"application": wiki.aud, "color": "blue"})
    assert response.status_code == 400 and response.json()["field"] == "color"


def test_unknown_and_deactivated_people_are_denied(client, wiki, employee, api_token, super_admin):
    from accounts.services.people import user_deactivate

    allowed = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email}}).json()
    user_deactivate(actor=super_admin, user=employee)
    assert AccessSession.objects.get().revoked_at is not None
    assert call(client, api_token, {"application": wiki.aud, "token": allowed["token"]}).json()["decision"] == "deny"
    assert call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email}}).json()[
        "decision"] == "deny"


def test_when_a_users_facts_change_their_sessions_are_decided_again(wiki, employee, engineering, super_admin):
    decisions.decide(application=wiki, source="api", issuer=ISSUER, user=employee)
    assert services.user_facts_changed(user_id=employee.pk) == 0  # still allowed
    engineering.memberships.filter(user=employee).delete()
    assert services.user_facts_changed(user_id=employee.pk, reason="left Engineering") == 1
    session = AccessSession.objects.get()
    assert session.revoked_at is not None and "left Engineering" in session.revoked_reason


def test_device_posture_comes_from_the_registered_device(wiki, employee, super_admin):
    policy = wiki.policies.get()
    services.policy_update(actor=super_admin, policy=policy, name=policy.name, action="allow", rules={
        **policy.rules, "require": [{"type": "device_posture", "managed": True, "min_edr_score": 70}]})
    device = services.device_save(actor=super_admin, user=employee, device_id="mac-42", name="Mac", os="macOS",
                                  os_version="15.1", managed=True, edr_score=90)
    allowed = decisions.decide(application=wiki, source="api", issuer=ISSUER, user=employee, device_id="mac-42")
    assert allowed.outcome == "allow"
    assert decisions.decide(application=wiki, source="api", issuer=ISSUER, user=employee).outcome == "deny"
    services.device_save(actor=super_admin, user=employee, device=device, device_id="mac-42", name="Mac",
                         os="macOS", os_version="15.1", managed=True, edr_score=40)
    assert services.user_facts_changed(user_id=employee.pk) == 1


def test_changing_a_policy_reaches_the_next_decision(wiki, employee, super_admin, django_capture_on_commit_callbacks):
    assert decisions.decide(application=wiki, source="api", issuer=ISSUER, user=employee).outcome == "allow"
    policy = wiki.policies.get()
    # Compiled policies are cached per process; the commit of a change tells every process.
    with django_capture_on_commit_callbacks(execute=True):
        services.policy_update(actor=super_admin, policy=policy, name=policy.name, action="block",
                               rules=policy.rules)
    assert decisions.decide(application=wiki, source="api", issuer=ISSUER, user=employee).outcome == "deny"
    assert services.reevaluate_policy_sessions(policy_id=policy.pk) == 1


def test_expired_sessions_are_not_extended(wiki, employee):
    long_ago = timezone.now() - timezone.timedelta(hours=2)
    first = decisions.decide(application=wiki, source="api", issuer=ISSUER, user=employee, now=long_ago)
    refused = decisions.decide(application=wiki, source="api", issuer=ISSUER, token=first.token)
    assert refused.outcome == "deny" and "expired" in refused.problem
    second = decisions.decide(application=wiki, source="api", issuer=ISSUER, user=employee)
    assert second.session.pk != first.session.pk


def test_application_names_are_unique(super_admin, wiki):
    from console.core.errors import Conflict

    with pytest.raises(Conflict):
        services.application_create(actor=super_admin, name="wiki", type="bookmark", url="https://w.example")
    assert Application.objects.count() == 1


def test_service_auth_without_a_token_gets_a_non_identity_session(wiki, employee, super_admin):
    """A Service Auth policy on the network alone (no token) lets the request in as no one."""
    policy = services.policy_create(actor=super_admin, name="Office network", action="service_auth", rules={
        "include": [{"type": "ip_range", "values": ["10.0.0.0/8"]}]})
    services.application_set_policies(actor=super_admin, application=wiki, policy_ids=[policy.pk])
    outcome = decisions.decide(application=wiki, source="api", issuer=ISSUER, user=employee, ip="10.1.2.3")
    assert outcome.outcome == "allow" and outcome.session.user is None
    claims = jwt.decode(outcome.token, options={"verify_signature": False})
    assert claims["sub"] == "non-identity" and claims["type"] == "service" and claims["email"] == ""


def test_a_key_unpublished_elsewhere_stops_verifying_in_a_process_that_cached_it(wiki, employee):
    """A process that verified tokens of a key keeps no copy past the key's publication: once
    another process (here: the database) has retired it for longer than it stays published,
    its tokens are refused here too."""
    from datetime import timedelta

    from console.access import tokens
    from console.access.models import SigningKey

    key = tokens.current_key()
    now = timezone.now()
    token = tokens.issue(key=key, issuer="https://console.test", audience=wiki.aud, subject=str(employee.pk),
                         session_id="00000000-0000-0000-0000-000000000001", expires_at=now + timedelta(hours=1),
                         issued_at=now, claims={})
    assert tokens.verify(token, audience=wiki.aud, issuer="https://console.test")["sub"] == str(employee.pk)
    SigningKey.objects.filter(pk=key.pk).update(retired_at=now - timedelta(days=32))
    tokens._public[key.kid] = (tokens._public[key.kid][0], 0.0)  # the re-check time has come
    with pytest.raises(jwt.InvalidTokenError):
        tokens.verify(token, audience=wiki.aud, issuer="https://console.test")
