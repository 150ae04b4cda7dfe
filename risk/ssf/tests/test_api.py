"""The transmitter metadata, the JWKS and the whole stream management API (SSF 1.0 §6–§8),
through HTTP, as a receiver calls them."""

from __future__ import annotations

import jwt
import pytest
from django.db import transaction

from console.audit.models import AuditEvent
from risk.ssf import events, keys, publish
from risk.ssf.models import POLL, PUSH, Delivery, SigningKey, Stream

pytestmark = pytest.mark.django_db

STREAMS = "/ssf/streams"


def test_the_well_known_configuration_names_every_endpoint(client):
    response = client.get("/.well-known/ssf-configuration")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    config = response.json()
    assert config["spec_version"] == "1_0"
    assert config["issuer"] == "http://testserver"
    assert config["jwks_uri"] == "http://testserver/ssf/jwks.json"
    assert config["delivery_methods_supported"] == ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"]
    assert config["configuration_endpoint"] == "http://testserver/ssf/streams"
    assert config["status_endpoint"] == "http://testserver/ssf/status"
    assert config["add_subject_endpoint"] == "http://testserver/ssf/subjects/add"
    assert config["remove_subject_endpoint"] == "http://testserver/ssf/subjects/remove"
    assert config["verification_endpoint"] == "http://testserver/ssf/verify"
    assert config["authorization_schemes"] == [{"spec_urn": "urn:ietf:rfc:6749"}, {"spec_urn": "urn:ietf:rfc:6750"}]
    assert config["default_subjects"] == "ALL"
    # Every endpoint it names answers (unauthenticated: 401, not 404).
    for name in ("configuration_endpoint", "status_endpoint"):
        assert client.get(config[name].removeprefix("http://testserver")).status_code == 401


def test_the_configured_issuer_wins_over_the_request_host(client, settings):
    settings.SSF_ISSUER = "https://console.corp.example"
    config = client.get("/.well-known/ssf-configuration").json()
    assert config["issuer"] == "https://console.corp.example"
    assert config["jwks_uri"] == "https://console.corp.example/ssf/jwks.json"


def test_the_jwks_publishes_the_rs256_key_that_signs_and_keeps_retired_keys_for_a_while(client, super_admin,
                                                                                            settings):
    first = client.get("/ssf/jwks.json").json()["keys"]
    assert len(first) == 1 and first[0]["kty"] == "RSA" and first[0]["alg"] == "RS256" and first[0]["use"] == "sig"
    assert "d" not in first[0] and "p" not in first[0]  # never a private member
    token = keys.sign({"iss": "x", "jti": "1", "iat": 1, "aud": "y", "events": {}})
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": first[0]["kid"], "typ": "secevent+jwt"}
    jwt.decode(token, jwt.PyJWK(first[0]).key, algorithms=["RS256"], audience="y")

    new = keys.key_rotate(actor=super_admin)
    after = client.get("/ssf/jwks.json").json()["keys"]
    assert [k["kid"] for k in after] == [new.kid, first[0]["kid"]]
    assert jwt.get_unverified_header(keys.sign({"jti": "2"}))["kid"] == new.kid
    assert AuditEvent.objects.filter(action="ssf.key.rotated", actor_email=super_admin.email).exists()

    settings.SSF_KEY_RETENTION_DAYS = 0
    assert [k["kid"] for k in client.get("/ssf/jwks.json").json()["keys"]] == [new.kid]
    # The private half is encrypted at rest.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT private_pem FROM ssf_signingkey WHERE kid = %s", [new.kid])
        stored = cursor.fetchone()[0]
    assert "PRIVATE KEY" not in stored and SigningKey.objects.get(kid=new.kid).private_pem.startswith("-----BEGIN")


def test_only_a_token_with_the_ssf_scope_gets_in(ssf_api, receiver_token):
    response = ssf_api("GET", STREAMS, None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["err"] == "authentication_failed"
    _, proxy_auth = receiver_token("proxy", scopes=("access:decide",))
    assert ssf_api("GET", STREAMS, proxy_auth).status_code == 401
    assert ssf_api("GET", STREAMS, "Bearer ztc_nope_nope").status_code == 401
    _, auth = receiver_token()
    assert ssf_api("GET", STREAMS, auth).json() == []


def test_a_receiver_creates_reads_updates_replaces_and_deletes_its_stream(ssf_api, receiver_token):
    token, auth = receiver_token()
    created = ssf_api("POST", STREAMS, auth, {
        "delivery": {"method": PUSH, "endpoint_url": "https://rx.example/events",
                     "authorization_header": "Bearer rx-secret"},
        "events_requested": [events.USER_RISK_CHANGE, events.SESSION_REVOKED, "urn:example:unknown"],
        "description": "Receiver A",
    })
    assert created.status_code == 201, created.content
    assert created["Cache-Control"] == "no-store"
    config = created.json()
    stream_id = config["stream_id"]
    assert config["iss"] == "http://testserver"
    assert config["aud"] == "https://rx.example"
    assert config["delivery"] == {"method": PUSH, "endpoint_url": "https://rx.example/events"}  # no secret back
    assert config["events_supported"] == list(events.SUPPORTED)
    assert config["events_requested"] == [events.USER_RISK_CHANGE, events.SESSION_REVOKED, "urn:example:unknown"]
    assert config["events_delivered"] == [events.USER_RISK_CHANGE, events.SESSION_REVOKED]
    assert config["description"] == "Receiver A"
    stream = Stream.objects.get(stream_id=stream_id)
    assert stream.receiver == token and stream.authorization_header == "Bearer rx-secret"
    audit = AuditEvent.objects.get(action="ssf.stream.created")
    assert audit.changes["via"] == "SSF API (token okta-rx)"
    assert audit.changes["authorization_header"]["new"] == "[secret]"

    # Another stream for the same receiver gets its own id (SSF 1.0 §8.1.1.1).
    second = ssf_api("POST", STREAMS, auth, {"description": "poll one"}).json()
    assert second["stream_id"] != stream_id
    assert second["delivery"] == {"method": POLL, "endpoint_url": f"http://testserver/ssf/poll/{second['stream_id']}"}
    listed = ssf_api("GET", STREAMS, auth).json()
    assert [s["stream_id"] for s in listed] == [stream_id, second["stream_id"]]
    assert ssf_api("GET", f"{STREAMS}?stream_id={stream_id}", auth).json() == config

    patched = ssf_api("PATCH", STREAMS, auth, {"stream_id": stream_id, "description": "Receiver A, prod",
                                               "iss": "http://testserver", "aud": "https://rx.example",
                                               "events_requested": [events.CREDENTIAL_CHANGE]})
    assert patched.status_code == 200, patched.content
    assert patched.json()["description"] == "Receiver A, prod"
    assert patched.json()["events_delivered"] == [events.CREDENTIAL_CHANGE]
    assert patched.json()["delivery"]["endpoint_url"] == "https://rx.example/events"  # untouched
    assert Stream.objects.get(stream_id=stream_id).authorization_header == "Bearer rx-secret"

    replaced = ssf_api("PUT", STREAMS, auth, {"stream_id": stream_id, "delivery": {
        "method": PUSH, "endpoint_url": "https://rx.example/v2/events"}})
    assert replaced.status_code == 200, replaced.content
    body = replaced.json()
    assert "description" not in body and body["events_delivered"] == list(events.DEFAULT_REQUESTED)
    assert body["delivery"]["endpoint_url"] == "https://rx.example/v2/events"
    assert Stream.objects.get(stream_id=stream_id).authorization_header == ""  # replaced: not sent again
    assert body["aud"] == "https://rx.example"  # aud cannot be updated

    assert ssf_api("DELETE", f"{STREAMS}?stream_id={stream_id}", auth).status_code == 204
    assert ssf_api("GET", f"{STREAMS}?stream_id={stream_id}", auth).status_code == 404
    assert AuditEvent.objects.filter(action="ssf.stream.deleted").count() == 1


def test_a_receiver_sees_only_its_own_streams(ssf_api, receiver_token):
    _, auth_a = receiver_token("a")
    _, auth_b = receiver_token("b")
    stream_id = ssf_api("POST", STREAMS, auth_a, {}).json()["stream_id"]
    assert ssf_api("GET", STREAMS, auth_b).json() == []
    for method, path, body in (("GET", f"{STREAMS}?stream_id={stream_id}", None),
                               ("PATCH", STREAMS, {"stream_id": stream_id, "description": "x"}),
                               ("DELETE", f"{STREAMS}?stream_id={stream_id}", None),
                               ("GET", f"/ssf/status?stream_id={stream_id}", None),
                               ("POST", "/ssf/verify", {"stream_id": stream_id})):
        response = ssf_api(method, path, auth_b, body)
        assert response.status_code == 404, (method, path)
        assert response.json()["err"] == "not_found"


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"stream_id": "mine"}, "stream_id", "set by the transmitter"),
    ({"aud": "x"}, "aud", "set by the transmitter"),
    ({"format": "email"}, "format", "unknown stream property"),
    ({"delivery": "push"}, "delivery", "must be an object"),
    ({"delivery": {"method": "smoke-signals"}}, "delivery.method", "urn:ietf:rfc:8935"),
    ({"delivery": {"method": PUSH}}, "delivery.endpoint_url", "endpoint_url"),
    ({"delivery": {"method": PUSH, "endpoint_url": "ftp://rx.example/in"}}, "delivery.endpoint_url", "URL"),
    ({"delivery": {"method": PUSH, "endpoint_url": "https://u:p@rx.example/"}}, "delivery.endpoint_url",
     "credentials"),
    ({"delivery": {"method": PUSH, "endpoint_url": "https://rx.example/", "tls": 1}}, "delivery.tls", "not a"),
    ({"delivery": {"method": POLL, "endpoint_url": "https://rx.example/"}}, "delivery.endpoint_url",
     "set by the transmitter"),
    ({"events_requested": []}, "events_requested", "at least one"),
    ({"events_requested": "all"}, "events_requested", "list"),
    ({"description": 7}, "description", "string"),
])
def test_a_bad_create_request_is_refused_naming_the_field(ssf_api, receiver_token, body, field, words):
    _, auth = receiver_token()
    response = ssf_api("POST", STREAMS, auth, body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["err"] == "invalid_request" and error["field"] == field and words in error["description"]
    assert not Stream.objects.exists()


def test_bodies_that_are_not_json_objects_are_refused(ssf_api, receiver_token):
    _, auth = receiver_token()
    assert ssf_api("POST", STREAMS, auth, raw=b"{nope").json()["description"] == "the body is not valid JSON"
    assert ssf_api("POST", STREAMS, auth, [1, 2]).json()["description"] == "the body must be a JSON object"
    assert ssf_api("POST", STREAMS, auth, raw=b"<x/>", content_type="application/xml").status_code == 400
    assert ssf_api("POST", STREAMS, auth, raw=b"{" + b" " * 70_000 + b"}").status_code == 400


def test_updates_check_what_the_transmitter_owns(ssf_api, receiver_token):
    _, auth = receiver_token()
    stream_id = ssf_api("POST", STREAMS, auth, {}).json()["stream_id"]
    cases = [
        ({"description": "x"}, 400, "stream_id"),
        ({"stream_id": "unknown"}, 404, "stream_id"),
        ({"stream_id": stream_id, "aud": "https://someone-else.example"}, 400, "aud"),
        ({"stream_id": stream_id, "iss": "https://evil.example"}, 400, "iss"),
        ({"stream_id": stream_id, "events_delivered": [events.VERIFICATION]}, 400, "events_delivered"),
        ({"stream_id": stream_id, "events_requested": []}, 400, "events_requested"),
    ]
    for body, status, field in cases:
        response = ssf_api("PATCH", STREAMS, auth, body)
        assert (response.status_code, response.json()["field"]) == (status, field), body
    assert ssf_api("DELETE", STREAMS, auth).json()["field"] == "stream_id"
    assert ssf_api("OPTIONS", STREAMS, auth).status_code == 405


def test_status_is_read_and_set(ssf_api, receiver_token):
    _, auth = receiver_token()
    stream_id = ssf_api("POST", STREAMS, auth, {}).json()["stream_id"]
    assert ssf_api("GET", f"/ssf/status?stream_id={stream_id}", auth).json() == {"stream_id": stream_id,
                                                                                 "status": "enabled"}
    response = ssf_api("POST", "/ssf/status", auth, {"stream_id": stream_id, "status": "paused",
                                                     "reason": "maintenance"})
    assert response.status_code == 200
    assert response.json() == {"stream_id": stream_id, "status": "paused", "reason": "maintenance"}
    assert Stream.objects.get(stream_id=stream_id).status == "paused"
    # The receiver asked: no stream-updated event goes back to it.
    assert not Delivery.objects.filter(event_type=events.STREAM_UPDATED).exists()
    assert AuditEvent.objects.filter(action="ssf.stream.status_changed").exists()
    for body, field in (({"stream_id": stream_id, "status": "off"}, "status"),
                        ({"stream_id": stream_id, "status": "enabled", "reason": 5}, "reason"),
                        ({"stream_id": stream_id, "status": "enabled", "why": "x"}, "why"),
                        ({"status": "enabled"}, "stream_id")):
        response = ssf_api("POST", "/ssf/status", auth, body)
        assert (response.status_code, response.json()["field"]) == (400, field)
    assert ssf_api("GET", "/ssf/status", auth).status_code == 400


def test_subjects_are_added_and_removed(ssf_api, receiver_token, make_user):
    _, auth = receiver_token()
    stream_id = ssf_api("POST", STREAMS, auth, {}).json()["stream_id"]
    stream = Stream.objects.get(stream_id=stream_id)
    stream.subjects_default = "NONE"
    stream.save()
    alice, bob = make_user(email="alice@corp.example"), make_user(email="bob@corp.example")

    added = ssf_api("POST", "/ssf/subjects/add", auth, {"stream_id": stream_id, "verified": True,
                                                        "subject": {"format": "email", "email": "Alice@Corp.Example"}})
    assert added.status_code == 200 and added.content == b""
    with transaction.atomic():
        assert publish.user_risk_changed(user=alice, previous="low", current="high", initiating_entity="policy",
                                         reason_admin="test") == 1
        assert publish.user_risk_changed(user=bob, previous="low", current="high", initiating_entity="policy",
                                         reason_admin="test") == 0
    removed = ssf_api("POST", "/ssf/subjects/remove", auth, {"stream_id": stream_id, "subject": {
        "format": "complex", "user": {"format": "email", "email": "alice@corp.example"}}})
    assert removed.status_code == 204
    assert publish.user_risk_changed(user=alice, previous="high", current="low", initiating_entity="admin",
                                     reason_admin="reset") == 0

    for body, field in (
        ({"stream_id": stream_id}, "subject"),
        ({"stream_id": stream_id, "subject": {"phone_number": "+1"}}, "subject.format"),
        ({"stream_id": stream_id, "subject": {"format": "email", "email": "nope"}}, "subject.email"),
        ({"stream_id": stream_id, "subject": {"format": "iss_sub", "iss": "https://i"}}, "subject.sub"),
        ({"stream_id": stream_id, "subject": "alice"}, "subject"),
        ({"stream_id": stream_id, "subject": {"format": "opaque", "id": "1"}, "verified": "yes"}, "verified"),
        ({"stream_id": stream_id, "subject": {"format": "opaque", "id": "1"}, "extra": 1}, "extra"),
    ):
        response = ssf_api("POST", "/ssf/subjects/add", auth, body)
        assert (response.status_code, response.json().get("field")) == (400, field), body
    assert ssf_api("GET", "/ssf/subjects/add", auth).status_code == 405


def test_a_subject_in_a_format_nobody_can_be_matched_by_is_not_recognized(ssf_api, receiver_token):
    """SSF 1.0 §8.1.3.2–3: 404 "if the subject is not recognized by the Event Transmitter" (RFC 9493
    formats we hold no people by: phone_number, account, …), not 400; nothing is stored."""
    _, auth = receiver_token()
    stream_id = ssf_api("POST", STREAMS, auth, {}).json()["stream_id"]
    for endpoint in ("/ssf/subjects/add", "/ssf/subjects/remove"):
        for subject in ({"format": "phone_number", "phone_number": "+12065550123"},
                        {"format": "account", "uri": "acct:alice@corp.example"},
                        {"format": "complex", "user": {"format": "phone_number", "phone_number": "+12065550123"}}):
            response = ssf_api("POST", endpoint, auth, {"stream_id": stream_id, "subject": subject})
            assert response.status_code == 404, (endpoint, subject)
            assert response.json()["err"] == "not_found" and "not recognized" in response.json()["description"]
    assert not Stream.objects.get(stream_id=stream_id).subjects.exists()


def test_verification_is_queued_with_the_state_and_rate_limited(ssf_api, receiver_token):
    _, auth = receiver_token()
    stream_id = ssf_api("POST", STREAMS, auth, {}).json()["stream_id"]
    response = ssf_api("POST", "/ssf/verify", auth, {"stream_id": stream_id, "state": "abc123"})
    assert response.status_code == 204
    row = Delivery.objects.get(event_type=events.VERIFICATION)
    assert row.claims["events"] == {events.VERIFICATION: {"state": "abc123"}}
    assert row.claims["sub_id"] == {"format": "opaque", "id": stream_id}
    again = ssf_api("POST", "/ssf/verify", auth, {"stream_id": stream_id, "state": "again"})
    assert again.status_code == 429 and "min_verification_interval" in again.json()["description"]
    assert ssf_api("POST", "/ssf/verify", auth, {"stream_id": stream_id, "state": 5}).status_code in (400, 429)


def _verify(token: str, client) -> dict:
    jwks = {k["kid"]: k for k in client.get("/ssf/jwks.json").json()["keys"]}
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "secevent+jwt"
    return jwt.decode(token, jwt.PyJWK(jwks[header["kid"]]).key, algorithms=["RS256"],
                      options={"verify_aud": False})


def test_poll_delivery_hands_out_signed_sets_until_acknowledged(ssf_api, receiver_token, make_user, client):
    _, auth = receiver_token()
    config = ssf_api("POST", STREAMS, auth, {"events_requested": [events.USER_RISK_CHANGE]}).json()
    poll_path = config["delivery"]["endpoint_url"].removeprefix("http://testserver")
    person = make_user(email="pat@corp.example")
    for current in ("medium", "high"):
        publish.user_risk_changed(user=person, previous="low", current=current, initiating_entity="policy",
                                  reason_admin=f"now {current}")

    first = ssf_api("POST", poll_path, auth, {"maxEvents": 1, "returnImmediately": True})
    assert first.status_code == 200
    body = first.json()
    assert body["moreAvailable"] is True and len(body["sets"]) == 1
    (jti, token), = body["sets"].items()
    claims = _verify(token, client)
    assert claims["jti"] == jti and claims["events"][events.USER_RISK_CHANGE]["current_level"] == "medium"

    # Not acknowledged yet and handed out a moment ago: the next poll moves on to the next event.
    second = ssf_api("POST", poll_path, auth, {"ack": [jti], "maxEvents": 10, "returnImmediately": True}).json()
    assert len(second["sets"]) == 1 and jti not in second["sets"] and second["moreAvailable"] is False
    (jti2, _), = second["sets"].items()
    assert Delivery.objects.get(jti=jti).status == "delivered"

    errs = ssf_api("POST", poll_path, auth, {"setErrs": {jti2: {"err": "invalid_key", "description": "no kid"}},
                                             "maxEvents": 0, "returnImmediately": True}).json()
    assert errs == {"sets": {}, "moreAvailable": False}
    failed = Delivery.objects.get(jti=jti2)
    assert failed.status == "failed" and failed.last_error == "receiver: invalid_key: no kid"


def test_poll_requests_are_checked(ssf_api, receiver_token):
    _, auth = receiver_token()
    poll_id = ssf_api("POST", STREAMS, auth, {}).json()["stream_id"]
    push_id = ssf_api("POST", STREAMS, auth, {"delivery": {"method": PUSH,
                                                           "endpoint_url": "https://rx.example/e"}}).json()["stream_id"]
    for body, field in (({"maxEvents": -1}, "maxEvents"), ({"maxEvents": True}, "maxEvents"),
                        ({"returnImmediately": "yes"}, "returnImmediately"), ({"ack": "x"}, "ack"),
                        ({"setErrs": {"j": "bad"}}, "setErrs.j"), ({"wait": 1}, "wait")):
        response = ssf_api("POST", f"/ssf/poll/{poll_id}", auth, body)
        assert (response.status_code, response.json()["field"]) == (400, field), body
    assert "push" in ssf_api("POST", f"/ssf/poll/{push_id}", auth, {}).json()["description"]
    assert ssf_api("POST", "/ssf/poll/unknown", auth, {}).status_code == 404
    assert ssf_api("POST", f"/ssf/poll/{poll_id}", None, {}).status_code == 401
    assert ssf_api("GET", f"/ssf/poll/{poll_id}", auth).status_code == 405


def test_a_paused_poll_stream_holds_its_events(ssf_api, receiver_token, make_user):
    _, auth = receiver_token()
    stream_id = ssf_api("POST", STREAMS, auth, {}).json()["stream_id"]
    ssf_api("POST", "/ssf/status", auth, {"stream_id": stream_id, "status": "paused"})
    publish.session_revoked(user=make_user(), reason="test", initiating_entity="admin")
    held = ssf_api("POST", f"/ssf/poll/{stream_id}", auth, {"returnImmediately": True}).json()
    assert held == {"sets": {}, "moreAvailable": False}
    ssf_api("POST", "/ssf/status", auth, {"stream_id": stream_id, "status": "enabled"})
    assert len(ssf_api("POST", f"/ssf/poll/{stream_id}", auth, {"returnImmediately": True}).json()["sets"]) == 1


@pytest.mark.parametrize("endpoint", ["https://127.0.0.1/events", "https://10.1.2.3/events",
                                      "https://[::1]/events", "https://169.254.169.254/latest"])
def test_receivers_cannot_point_pushes_into_the_private_network(ssf_api, receiver_token, settings, endpoint):
    settings.SSF_ALLOW_PRIVATE_ENDPOINTS = False
    settings.SSF_ALLOW_HTTP_ENDPOINTS = False
    _, auth = receiver_token()
    response = ssf_api("POST", STREAMS, auth, {"delivery": {"method": PUSH, "endpoint_url": endpoint}})
    assert response.status_code == 400
    assert response.json()["field"] == "delivery.endpoint_url"
    assert "private or local address" in response.json()["description"]
    public = ssf_api("POST", STREAMS, auth, {"delivery": {"method": PUSH, "endpoint_url": "https://93.184.216.34/e"}})
    assert public.status_code == 201
    plain = ssf_api("POST", STREAMS, auth, {"delivery": {"method": PUSH, "endpoint_url": "http://93.184.216.34/e"}})
    assert plain.json()["description"] == "The endpoint URL must be an https URL."
