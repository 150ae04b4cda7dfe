"""Conformance of the transmitter with OpenID Shared Signals Framework 1.0 (final, 2025-08-29),
CAEP 1.0 (2025-08-29) and the CAEP Interoperability Profile 1.0 (draft 02, 2025-09-16), checked
the way a receiver meets them: over HTTP, with an API token, every SET fetched by poll and
verified against the JWKS the metadata names.

The requirements checked, by where they are written:

Transmitter metadata (SSF §7.1; interop §2.3)
  M1  ``spec_version`` MUST be present and ``1_0`` or greater (interop §2.3.1)
  M2  ``issuer`` MUST be an https URL with no query or fragment, identical to ``iss`` of every SET (SSF §7.1)
  M3  ``jwks_uri`` MUST be present and MUST provide the current signing key (interop §2.3.3)
  M4  ``delivery_methods_supported`` MUST be present (interop §2.3.2), with push and poll (interop §2.3.8)
  M5  ``configuration_endpoint`` MUST be present and support POST (interop §2.3.4)
  M6  ``status_endpoint`` MUST be present and support GET and POST with enabled/paused/disabled (interop §2.3.5)
  M7  ``verification_endpoint`` MUST be present (interop §2.3.6)
  M8  ``authorization_schemes`` MUST include ``{"spec_urn": "urn:ietf:rfc:6749"}`` (interop §2.3.7)
  M9  endpoint URLs MUST use https (SSF §7.1)
Streams (interop §2.3.8; SSF §8.1)
  S1  a stream MUST be creatable with push (urn:ietf:rfc:8935) or poll (urn:ietf:rfc:8936) delivery
  S2  ``delivery`` MUST be present in every stream configuration, with one of those methods
  S3  a receiver MUST be able to read its stream's configuration and status
  S4  the verification event's ``sub_id`` MUST be opaque with the stream id; ``state`` MUST be echoed (SSF §8.1.4)
  S5  a stream-updated event MUST be sent when the transmitter pauses/disables a stream and when it
      re-enables it, with ``status``; ``sub_id`` MUST be opaque with the stream id (SSF §8.1.5)
  S6  add subject answers 200, remove 204; 404 for a subject the transmitter does not recognize (SSF §8.1.3)
Security Event Tokens (SSF §4; interop §2.5, §2.7; CAEP §2–§3)
  T1  explicit typing ``typ: secevent+jwt`` (SSF §4.1.1); RS256 with a key of at least 2048 bits (interop §2.5)
  T2  no ``sub`` claim, no ``exp`` claim (SSF §4.1.2, §4.1.6)
  T3  a top-level ``sub_id`` MUST describe the primary subject (SSF §3.1), in a format receivers must
      support: email or iss_sub, opaque for verification (interop §2.4)
  T4  the ``events`` claim MUST contain only one event (interop §2.7.1)
  T5  ``iss`` MUST match the stream's ``iss`` (SSF §4.1.5); ``aud`` is the stream's
  T6  ``txn``: SHOULD be set, on every SET type here, one value per underlying change (SSF §4.1.8)
  T7  a ``subject`` member MUST be a simple subject or a complex one with ``"format": "complex"`` (SSF §3.1.4,
      §3.3); new event types MUST NOT use it (SSF §3.1.2)
  T8  session-revoked and credential-change MUST carry a non-empty ``reason_admin`` (interop §3.1, §3.2);
      credential_type and change_type take the allowed values (CAEP §3.3)
  T9  risk-level-change: ``principal`` REQUIRED; ``current_level`` REQUIRED and one of LOW, MEDIUM, HIGH;
      ``previous_level`` one of those when present (CAEP §3.8)
  T10 ``initiating_entity`` one of admin, user, policy, system; ``event_timestamp`` a JSON number of seconds
      (CAEP §2)
Authorization (interop §2.6)
  A1  access tokens MUST be accepted in the Authorization header (RFC 6750 §2.1) and MUST NOT be accepted
      in the query (RFC 6750 §2.3)
  A2  management operations MUST accept ``ssf.manage``; read operations MUST accept ``ssf.read`` (interop §2.6.2)
  A3  an insufficient token MUST get the RFC 6750 §3.1 error (403, ``insufficient_scope``)
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import jwt
import pytest
from django.db import transaction

from risk.ssf import api, events, publish, services
from risk.ssf.models import POLL, PUSH, Stream

pytestmark = pytest.mark.django_db

ISSUER = "https://console.corp.example"
LEVELS = ("LOW", "MEDIUM", "HIGH")


@pytest.fixture
def issuer(settings):
    settings.SSF_ISSUER = ISSUER
    return ISSUER


def _metadata(client) -> dict:
    response = client.get("/.well-known/ssf-configuration")
    assert response.status_code == 200
    return response.json()


def _path(url: str) -> str:
    return urlsplit(url).path


def test_transmitter_metadata(client, issuer):
    meta = _metadata(client)
    assert meta["spec_version"] >= "1_0"                                                     # M1
    parts = urlsplit(meta["issuer"])
    assert meta["issuer"] == ISSUER and parts.scheme == "https" and not parts.query and not parts.fragment  # M2
    assert set(meta["delivery_methods_supported"]) >= {PUSH, POLL}                            # M4
    for name in ("jwks_uri", "configuration_endpoint", "status_endpoint", "verification_endpoint",
                 "add_subject_endpoint", "remove_subject_endpoint"):
        assert urlsplit(meta[name]).scheme == "https" and meta[name].startswith(ISSUER), name  # M3 M5 M6 M7 M9
    assert {"spec_urn": "urn:ietf:rfc:6749"} in meta["authorization_schemes"]                 # M8
    resource = client.get("/.well-known/oauth-protected-resource/ssf").json()                 # A2 (discovery)
    assert resource["resource"] == f"{ISSUER}/ssf" and resource["bearer_methods_supported"] == ["header"]
    assert set(resource["scopes_supported"]) == {"ssf.manage", "ssf.read"}


def _verify(token: str, jwks: dict, stream: dict) -> tuple[dict, dict]:
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "secevent+jwt" and header["alg"] == "RS256"                       # T1
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))              # M3
    assert key.key.key_size >= 2048                                                            # T1
    aud = stream["aud"] if isinstance(stream["aud"], str) else stream["aud"][0]
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=aud, issuer=stream["iss"])  # T5
    assert "sub" not in claims and "exp" not in claims                                         # T2
    assert len(claims["events"]) == 1                                                          # T4
    assert isinstance(claims.get("txn"), str) and claims["txn"]                                # T6
    [(event_type, event)] = claims["events"].items()
    return claims, {"type": event_type, **event}


def _simple_subject_ok(subject: dict) -> bool:
    match subject.get("format"):
        case "email":
            return "@" in subject.get("email", "")
        case "iss_sub":
            return bool(subject.get("iss")) and bool(subject.get("sub"))
        case "opaque":
            return bool(subject.get("id"))
    return False


def _subject_member_ok(subject: dict) -> bool:
    if subject.get("format") == "complex":
        members = {k: v for k, v in subject.items() if k != "format"}
        return bool(members) and all(isinstance(v, dict) and _simple_subject_ok(v) for v in members.values())
    return _simple_subject_ok(subject)


def test_streams_and_every_set_type(client, issuer, ssf_api, receiver_token, super_admin, make_user):
    _, auth = receiver_token("caep-rx")
    meta = _metadata(client)
    jwks = client.get(_path(meta["jwks_uri"])).json()
    config_path, status_path = _path(meta["configuration_endpoint"]), _path(meta["status_endpoint"])

    pushed = ssf_api("POST", config_path, auth, {"delivery": {"method": PUSH,                 # S1
                                                              "endpoint_url": "https://rx.corp.example/events"}})
    assert pushed.status_code == 201 and pushed.json()["delivery"]["method"] == PUSH           # S2
    created = ssf_api("POST", config_path, auth, {"delivery": {"method": POLL}, "events_requested": [
        events.RISK_LEVEL_CHANGE, events.USER_RISK_CHANGE, events.SESSION_REVOKED, events.CREDENTIAL_CHANGE]})
    assert created.status_code == 201                                                          # S1
    stream = created.json()
    assert stream["delivery"]["method"] == POLL and stream["delivery"]["endpoint_url"]         # S2
    assert stream["iss"] == meta["issuer"]                                                     # M2
    stream_id = stream["stream_id"]
    read = client.get(config_path, HTTP_AUTHORIZATION=auth)
    assert read.status_code == 200 and any(s["stream_id"] == stream_id for s in read.json())   # S3
    one = client.get(config_path, {"stream_id": stream_id}, HTTP_AUTHORIZATION=auth)
    assert one.status_code == 200 and one.json()["delivery"]["method"] == POLL                 # S3
    status = client.get(status_path, {"stream_id": stream_id}, HTTP_AUTHORIZATION=auth)
    assert status.status_code == 200 and status.json()["status"] == "enabled"                  # S3 M6
    for value in ("paused", "enabled", "disabled", "enabled"):                                 # M6
        changed = ssf_api("POST", status_path, auth, {"stream_id": stream_id, "status": value})
        assert changed.status_code == 200 and changed.json()["status"] == value

    subjects = {"format": "email", "email": "ivy@corp.example"}
    assert ssf_api("POST", _path(meta["add_subject_endpoint"]), auth,                          # S6
                   {"stream_id": stream_id, "subject": subjects}).status_code == 200
    assert ssf_api("POST", _path(meta["remove_subject_endpoint"]), auth,
                   {"stream_id": stream_id, "subject": {"format": "email", "email": "x@corp.example"}}
                   ).status_code == 204
    assert ssf_api("POST", _path(meta["add_subject_endpoint"]), auth, {"stream_id": stream_id, "subject": {
        "format": "phone_number", "phone_number": "+12065550123"}}).status_code == 404

    assert ssf_api("POST", _path(meta["verification_endpoint"]), auth,                         # S4
                   {"stream_id": stream_id, "state": "c3RhdGU"}).status_code == 204
    row = Stream.objects.get(stream_id=stream_id)
    services.stream_status_set(actor=super_admin, stream=row, status="paused", reason="maintenance")  # S5
    services.stream_status_set(actor=super_admin, stream=row, status="enabled")
    person = make_user(email="ivy@corp.example")
    with transaction.atomic():
        publish.user_risk_changed(user=person, previous="unscored", current="high", initiating_entity="policy",
                                  reason_admin="Impossible travel")
        publish.user_risk_changed(user=person, previous="high", current="medium", initiating_entity="admin",
                                  reason_admin="Investigated")
        publish.session_revoked(user=person, reason="Sessions revoked by policy", initiating_entity="policy")
        publish.credential_changed(user=person, credential_type="fido2-roaming", change_type="create",
                                   friendly_name="Blue key", initiating_entity="user")

    polled = ssf_api("POST", _path(stream["delivery"]["endpoint_url"]), auth,
                     {"maxEvents": 100, "returnImmediately": True})
    assert polled.status_code == 200
    sets = [_verify(token, jwks, stream) for token in polled.json()["sets"].values()]
    by_type: dict[str, list[tuple[dict, dict]]] = {}
    for claims, event in sets:
        by_type.setdefault(event["type"], []).append((claims, event))
    assert set(by_type) == {events.VERIFICATION, events.STREAM_UPDATED, events.USER_RISK_CHANGE,
                            events.RISK_LEVEL_CHANGE, events.SESSION_REVOKED, events.CREDENTIAL_CHANGE}

    [(claims, event)] = by_type[events.VERIFICATION]
    assert claims["sub_id"] == {"format": "opaque", "id": stream_id} and event["state"] == "c3RhdGU"  # S4
    updates = by_type[events.STREAM_UPDATED]
    assert [e["status"] for _, e in updates] == ["paused", "enabled"]                          # S5
    assert all(c["sub_id"] == {"format": "opaque", "id": stream_id} for c, _ in updates)

    for event_type in (events.USER_RISK_CHANGE, events.RISK_LEVEL_CHANGE, events.SESSION_REVOKED,
                       events.CREDENTIAL_CHANGE):
        for claims, event in by_type[event_type]:
            assert claims["sub_id"] == {"format": "email", "email": "ivy@corp.example"}        # T3
            assert event["initiating_entity"] in ("admin", "user", "policy", "system")         # T10
            assert isinstance(event["event_timestamp"], int)                                   # T10
            if event_type == events.RISK_LEVEL_CHANGE:
                assert "subject" not in event                                                  # T7
            else:
                assert _subject_member_ok(event["subject"])                                    # T7
    for event_type in (events.SESSION_REVOKED, events.CREDENTIAL_CHANGE):
        [(_, event)] = by_type[event_type]
        assert event["reason_admin"]["en"].strip()                                             # T8
    [(_, credential)] = by_type[events.CREDENTIAL_CHANGE]
    assert credential["credential_type"] in events.CREDENTIAL_TYPES                            # T8
    assert credential["change_type"] in events.CHANGE_TYPES
    risk_events = by_type[events.RISK_LEVEL_CHANGE]
    for _, event in risk_events:
        assert event["principal"] == "USER" and event["current_level"] in LEVELS               # T9
        assert event.get("previous_level", "LOW") in LEVELS
    assert "previous_level" not in risk_events[0][1] and risk_events[1][1]["previous_level"] == "HIGH"
    # T6: one txn per underlying change, shared by its two risk events, distinct between changes.
    risk_txns = [c["txn"] for c, _ in by_type[events.USER_RISK_CHANGE]]
    assert risk_txns == [c["txn"] for c, _ in risk_events] and len(set(risk_txns)) == 2
    assert len({c["txn"] for c, _ in sets}) == len(sets) - 2


def test_bearer_tokens_and_scopes(client, ssf_api, receiver_token):
    token, auth = receiver_token("scoped-rx")
    assert ssf_api("POST", "/ssf/streams", auth, {}).status_code == 201                       # A1
    secret = auth.removeprefix("Bearer ")
    in_query = client.get("/ssf/streams", {"access_token": secret})
    assert in_query.status_code == 401 and in_query["WWW-Authenticate"].startswith("Bearer")  # A1
    assert api.api_token_scopes(token) == {"ssf.manage", "ssf.read"}                          # A2
    for operation in ("create", "update", "delete", "status", "subjects", "verify", "poll"):
        assert api.scope_allows({"ssf.manage"}, "ssf.manage", operation)                      # A2
        assert not api.scope_allows({"ssf.read"}, "ssf.manage", operation)
    assert api.scope_allows({"ssf.manage.poll"}, "ssf.manage", "poll")
    assert not api.scope_allows({"ssf.manage.poll"}, "ssf.manage", "create")
    assert api.scope_allows({"ssf.read"}, "ssf.read", "read") and api.scope_allows({"ssf.manage"}, "ssf.read", "read")
    refused = api._error(403, "insufficient_scope", "this operation needs the ssf.manage scope", scope="ssf.manage")
    assert refused.status_code == 403                                                          # A3
    assert refused["WWW-Authenticate"] == 'Bearer realm="ssf", error="insufficient_scope", scope="ssf.manage"'
    assert json.loads(refused.content)["err"] == "insufficient_scope"
