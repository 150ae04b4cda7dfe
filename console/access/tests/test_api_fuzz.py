"""Property-based run of the decision API against its own OpenAPI document.

Acceptance criterion: Schemathesis (or an equivalent property-based run) against the decision
API's OpenAPI document finds no 5xx and no allow on malformed input.

The schema is loaded the way the API serves it (``GET /api/v1/openapi.json`` through Django's
WSGI application) and ``POST /api/v1/access/decide`` is driven in-process with schemathesis'
positive and negative (schema-violating) data. The generated cases are steered towards the
data that exists — a real application, a person whom its Allow policy allows, a valid API
token — so that "allow" is actually reachable and the invariants below are not vacuous.

Every response must pass schemathesis' own checks (no server error, documented status code,
documented content type, body matching the ``Decision`` schema, negative data rejected) and
``fails_closed``: a 4xx, an unauthenticated call, or a body that is not a well-formed
``DecisionRequest`` says "deny"; "allow" only ever comes with a 200, a signed token for the
application asked about, a valid API token and a well-formed request for an active person of
the allowed domain (or that person's earlier token).

The requests go through Django's WSGI handler in the test's own thread. Unlike Django's test
client, schemathesis' WSGI client leaves ``close_old_connections`` connected to the request
signals, which would close the connection inside the ``db`` fixture's transaction: hence a
transactional database."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
import jwt
import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db(transaction=True)

DECIDE = "/api/v1/access/decide"
EXAMPLES = 300  # per generation mode
ALLOWED_DOMAIN = "corp.example"
WSGI_HOST = "localhost"  # the Host schemathesis' WSGI client sends


@dataclass
class World:
    """What exists in the database for the run, and what the run saw."""

    aud: str
    host: str
    ci_aud: str
    ci_host: str
    allowed_email: str
    inactive_email: str
    outsider_email: str
    api_token: str
    revoked_api_token: str
    client_id: str
    client_secret: str
    issued_token: str = ""
    well_formed: Callable[[Any], bool] = bool  # against DecisionRequest, from the served document
    seen: Counter = field(default_factory=Counter)
    internal_errors: list = field(default_factory=list)

    @property
    def auds(self) -> dict[str, str]:
        return {self.host: self.aud, self.ci_host: self.ci_aud}


@pytest.fixture
def world(super_admin, make_user) -> World:
    from console.access import services

    make_user(email=f"ann@{ALLOWED_DOMAIN}")
    make_user(email=f"gone@{ALLOWED_DOMAIN}", is_active=False)
    make_user(email="eve@evil.example")
    staff = services.policy_create(
        actor=super_admin, name="Staff", action="allow",
        rules={"include": [{"type": "email_domain", "values": [ALLOWED_DOMAIN]}]},
    )
    machines = services.policy_create(
        actor=super_admin, name="Machines", action="service_auth", rules={"include": [{"type": "any_service_token"}]},
    )
    wiki = services.application_create(
        actor=super_admin, name="Wiki", type="self_hosted", domain=f"wiki.{ALLOWED_DOMAIN}",
    )
    ci = services.application_create(actor=super_admin, name="CI", type="self_hosted", domain=f"ci.{ALLOWED_DOMAIN}")
    services.application_set_policies(actor=super_admin, application=wiki, policy_ids=[staff.pk])
    services.application_set_policies(actor=super_admin, application=ci, policy_ids=[machines.pk])
    _, api_token = services.api_token_create(actor=super_admin, name="proxy", scopes=["access:decide"])
    revoked, revoked_token = services.api_token_create(actor=super_admin, name="old proxy", scopes=["access:decide"])
    services.api_token_revoke(actor=super_admin, token=revoked)
    service_token, client_secret = services.service_token_create(actor=super_admin, name="ci runner")
    return World(
        aud=wiki.aud, host=wiki.domain, ci_aud=ci.aud, ci_host=ci.domain,
        allowed_email=f"ann@{ALLOWED_DOMAIN}", inactive_email=f"gone@{ALLOWED_DOMAIN}",
        outsider_email="eve@evil.example", api_token=api_token, revoked_api_token=revoked_token,
        client_id=service_token.client_id, client_secret=client_secret,
    )


@pytest.fixture
def decide(world: World):
    """``decide(body, content_type=..., token=...)``: one call through Django's test client."""
    client = Client(HTTP_HOST=WSGI_HOST)  # the issuer of the tokens is the host asked

    def call(body: Any, *, content_type: str = "application/json", token: str | None = None):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        token = world.api_token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.post(DECIDE, data=data, content_type=content_type, headers=headers)

    return call


@pytest.fixture
def schema(world: World):
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    request_schema = loaded.raw_schema["components"]["schemas"]["DecisionRequest"]
    world.well_formed = jsonschema_rs.Draft202012Validator(request_schema).is_valid
    return loaded


@pytest.fixture
def baseline(world: World, decide, schema) -> World:
    """The steering targets really work: without this the "no allow" invariant proves nothing."""
    response = decide({"application": world.aud, "user": {"email": world.allowed_email}})
    assert response.status_code == 200 and response.json()["decision"] == "allow", response.content
    world.issued_token = response.json()["token"]
    assert decide({"application": world.aud, "token": world.issued_token}).json()["decision"] == "allow"
    machine = {"client_id": world.client_id, "client_secret": world.client_secret}
    answer = decide({"application": {"hostname": world.ci_host}, "service_token": machine}).json()
    assert answer["decision"] == "allow", answer
    return world


# --- Steering ----------------------------------------------------------------------------------

# The first of each list is what Hypothesis leans to (and shrinks to): the data that exists.
STEER = st.fixed_dictionaries({
    "auth": st.sampled_from(["valid"] * 6 + ["garbage", "none", "wrong_secret", "revoked"]),
    "garbage": st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80),
    "app": st.sampled_from(["wiki", "wiki", "ci", "keep"]),
    "who": st.sampled_from(["allowed", "allowed", "keep", "inactive", "outsider"]),
    "credential": st.sampled_from(["keep", "keep", "issued_token", "service_token", "wrong_client_secret"]),
})


def steer(case, choice: dict[str, str], world: World) -> None:
    """Swap generated values for ones that exist (the application, the person, the credentials),
    keeping each value's generated type so a mutation elsewhere survives. Should the swap have
    repaired a negative body (its only mutation was a value swapped out), the generated body
    is kept instead: a negative run stays a run of malformed bodies."""
    headers = dict(case.headers or {})
    prefix = world.api_token.split("_")[1]
    auth = {
        "valid": f"Bearer {world.api_token}",
        "garbage": f"Bearer ztc_{choice['garbage']}",
        "wrong_secret": f"Bearer ztc_{prefix}_not-the-secret",
        "revoked": f"Bearer {world.revoked_api_token}",
    }.get(choice["auth"])
    if auth:
        headers["Authorization"] = auth
    else:
        headers.pop("Authorization", None)
    case.headers = headers

    if not isinstance(case.body, dict):
        return
    body = copy.deepcopy(case.body)
    host, aud = (world.ci_host, world.ci_aud) if choice["app"] == "ci" else (world.host, world.aud)
    target = body.get("application")
    if choice["app"] != "keep":
        if isinstance(target, str):
            body["application"] = aud
        elif isinstance(target, dict) and isinstance(target.get("hostname"), str):
            target["hostname"] = host
    who, credential = choice["who"], choice["credential"]
    if who != "keep":
        email = getattr(world, f"{who}_email")
        if "user" not in body:
            body["user"] = {"email": email}
        elif isinstance(body["user"], dict) and isinstance(body["user"].get("email"), str):
            body["user"]["email"] = email
    if credential == "issued_token" and isinstance(body.get("token", ""), str):
        body["token"] = world.issued_token
    if credential in ("service_token", "wrong_client_secret"):
        secret = world.client_secret if credential == "service_token" else "wrong"
        machine = body.setdefault("service_token", {"client_id": "", "client_secret": ""})
        if isinstance(machine, dict):
            for name, value in (("client_id", world.client_id), ("client_secret", secret)):
                if isinstance(machine.get(name, ""), str):
                    machine[name] = value
    if world.well_formed(case.body) or not world.well_formed(body):
        case.body = body


# --- The fail-closed check ---------------------------------------------------------------------


def sent_body(response) -> tuple[bool, Any]:
    """Whether what went over the wire is a JSON object, and that object."""
    request = response.request
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    raw = request.body or b""
    if content_type != "application/json":
        return False, None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False, None
    return isinstance(body, dict), body


def fails_closed_check(world: World):
    def fails_closed(ctx, response, case) -> None:
        status = response.status_code
        try:
            answer = response.json()
        except ValueError:
            raise AssertionError(f"{status} answered a body that is not JSON: {response.text[:300]!r}") from None
        decision = answer.get("decision") if isinstance(answer, dict) else None
        is_object, body = sent_body(response)
        well_formed = is_object and world.well_formed(body)
        authorization = response.request.headers.get("Authorization", "")
        authenticated = authorization == f"Bearer {world.api_token}"
        world.seen[(case.meta.generation.mode.value if case.meta else "?", status, decision, well_formed)] += 1
        if isinstance(answer, dict) and "request_id" in answer:  # documented: internal errors deny with 200
            world.internal_errors.append(response.request.body[:300])

        assert status < 500, f"server error {status}"
        if status >= 400:
            assert decision == "deny", f"{status} must say deny, said {decision!r}"
        if not authenticated:
            assert status == 401 and decision == "deny", f"no valid API token, yet {status} {decision!r}"
        if not well_formed:
            assert decision == "deny", f"malformed request answered {decision!r} ({status}): {body!r}"
        if decision != "allow":
            assert answer.get("token") is None, "a token came with a decision other than allow"
            return
        assert status == 200, f"allow with status {status}"
        assert isinstance(answer.get("token"), str) and answer["token"], "allow without a token"
        assert authenticated and well_formed
        target = body["application"]
        aud = target if isinstance(target, str) else world.auds.get(target["hostname"].strip().lower())
        claims = jwt.decode(answer["token"], options={"verify_signature": False, "verify_aud": False})
        assert claims["aud"] == [aud], f"allow for {aud}, token for {claims['aud']}"
        if aud == world.ci_aud:  # Service Auth: only the valid service token opens it
            assert (body.get("service_token") or {}).get("client_secret") == world.client_secret
        else:  # the Staff policy: only the active person of the allowed domain
            assert claims["type"] == "app" and claims["email"] == world.allowed_email, f"allowed {claims}"
            email = (body.get("user") or {}).get("email", "").strip().lower()
            assert email == world.allowed_email or body.get("token") == world.issued_token

    return fails_closed


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_decide_fuzz(schema, baseline: World, mode: GenerationMode) -> None:
    world = baseline
    operation = schema[DECIDE]["POST"]
    fails_closed = fails_closed_check(world)
    # A fixed (valid) Authorization header: negative data then goes into the body, where the parsing
    # is; the steering swaps in the missing and bad credentials.
    cases = operation.as_strategy(generation_mode=mode, headers={"Authorization": f"Bearer {world.api_token}"})

    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=False,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=cases, choice=STEER)
    def run(case, choice) -> None:
        steer(case, choice, world)
        case.meta  # noqa: B018 - reading it re-labels the case positive/negative after the steering
        response = case.call()
        try:
            case.validate_response(response, checks=CHECKS, additional_checks=[fails_closed])
        except FailureGroup as failure:  # its curl masks every value named like a secret
            failure.add_note(f"Body sent: {response.request.body!r}\nAuthorization: {choice['auth']}")
            raise

    run()
    print(f"\n{mode}: {world.seen.total()} requests (mode, status, decision, well-formed): "
          + ", ".join(f"{k}={v}" for k, v in sorted(world.seen.items(), key=str)))
    for body in world.internal_errors:
        print(f"  answered 'internal error; denied': {body!r}")
    if mode is GenerationMode.POSITIVE:
        assert any(key[2] == "allow" for key in world.seen), "the run never reached allow; steering is broken"


# --- Hand-written malformed requests -------------------------------------------------------------


def denial_problem(response, status: int) -> str:
    """What is wrong with this answer to a malformed request ("" if nothing): it must be a JSON
    deny with the expected 4xx, never a 5xx, never a token."""
    try:
        answer = response.json()
    except ValueError:
        return f"{response.status_code}, not JSON: {response.content[:200]!r}"
    if response.status_code != status or answer.get("decision") != "deny" or answer.get("token") is not None:
        got = f"{response.status_code} {answer.get('decision')!r}"
        return f"expected {status} deny, got {got}: {answer.get('reason')!r}"
    return ""


def assert_denied(cases: dict[str, Any], send, status: int = 400) -> None:
    problems = {name: denial_problem(send(body), status) for name, body in cases.items()}
    problems = {name: problem for name, problem in problems.items() if problem}
    assert not problems, "\n".join(f"{name}: {problem}" for name, problem in problems.items())


def test_malformed_bodies_are_denied(baseline: World, decide) -> None:
    world = baseline
    good = {"application": world.aud, "user": {"email": world.allowed_email}}
    cases = {
        "not json": b"{application: wiki",
        "invalid utf-8": b'{"application": "\xff\xfe"}',
        "empty body": b"",
        "json null": b"null",
        "json array": json.dumps([good]),
        "json string": json.dumps("allow"),
        "json number": b"1",
        "unknown top-level field": {**good, "admin": True},
        "unknown user field": {**good, "user": {"email": world.allowed_email, "role": "super_admin"}},
        "unknown application field": {"application": {"hostname": world.host, "port": 443}, "user": good["user"]},
        "email a number": {**good, "user": {"email": 42}},
        "email a list": {**good, "user": {"email": [world.allowed_email]}},
        "email an object": {**good, "user": {"email": {"address": world.allowed_email}}},
        "email missing": {**good, "user": {}},
        "user a string": {**good, "user": world.allowed_email},
        "amr not a list": {**good, "user": {"email": world.allowed_email, "amr": "mfa"}},
        "amr too long": {**good, "user": {"email": world.allowed_email, "amr": ["pwd"] * 21}},
        "claims a list": {**good, "user": {"email": world.allowed_email, "claims": ["x"]}},
        "ip not an ip": {**good, "ip": "not-an-ip"},
        "ip a number": {**good, "ip": 167772161},
        "country three letters": {**good, "country": "DEU"},
        "country digits": {**good, "country": "12"},
        "application {}": {**good, "application": {}},
        "application empty string": {**good, "application": ""},
        "application a number": {**good, "application": 7},
        "application missing": {"user": good["user"]},
        "hostname a number": {**good, "application": {"hostname": 7}},
        "no identity": {"application": world.aud},
        "service_token a string": {**good, "service_token": "secret"},
        "service_token without secret": {**good, "service_token": {"client_id": world.client_id}},
        "token a number": {**good, "token": 1},
        "device_id too long": {**good, "device_id": "d" * 121},
        "body over 64 KB": {**good, "device_id": "d" * (65 * 1024)},
    }
    assert_denied(cases, decide)


def test_wrong_content_types_are_denied(baseline: World, decide) -> None:
    good = json.dumps({"application": baseline.aud, "user": {"email": baseline.allowed_email}})
    form = f"application={baseline.aud}&user={baseline.allowed_email}"
    cases = {
        content_type: (good, content_type)
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx", "text/json",
                             "multipart/form-data; boundary=x", "")
    }
    cases["form-encoded fields"] = (form, "application/x-www-form-urlencoded")
    assert_denied(cases, lambda sent: decide(sent[0], content_type=sent[1]))
    assert decide(good, content_type="application/json; charset=utf-8").json()["decision"] == "allow"


def test_body_beyond_the_upload_limit_is_denied(baseline: World, decide, settings) -> None:
    """Larger than DATA_UPLOAD_MAX_MEMORY_SIZE: Django itself refuses to read it."""
    huge = {"application": baseline.aud, "user": {"email": baseline.allowed_email},
            "device_id": "d" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}
    assert_denied({"body over DATA_UPLOAD_MAX_MEMORY_SIZE": huge}, decide)


def test_bad_credentials_are_denied_even_for_malformed_bodies(baseline: World, decide) -> None:
    world = baseline
    prefix = world.api_token.split("_")[1]
    good = {"application": world.aud, "user": {"email": world.allowed_email}}
    tokens = ("", "nonsense", f"ztc_{prefix}_wrong", f"ztc_{prefix}", world.revoked_api_token,
              world.api_token + "x", f"ztc_{prefix}_" + "x" * 5000, f"ztc__{world.api_token.split('_', 2)[2]}")
    cases = {
        f"token {token[:24]!r} body {body!r:.24}": (token, body)
        for token in tokens for body in (good, b"{not json", [good])
    }
    assert_denied(cases, lambda sent: decide(sent[1], token=sent[0]), 401)


def test_malformed_fields_are_rejected_before_any_lookup(baseline: World, decide) -> None:
    """A malformed field is a 400 whatever the lookups of the other fields would have found: an
    unknown or deactivated person must not cut the validation of the rest short into a 200."""
    world = baseline
    long_secret = {"client_id": world.client_id, "client_secret": "s" * 201}
    cases = {
        f"{who} + {what}": {"application": world.aud, "user": {"email": email}, **extra}
        for who, email in (("unknown person", "nobody@corp.example"), ("deactivated person", world.inactive_email))
        for what, extra in (
            ("service_token a number", {"service_token": 5}),
            ("service_token without client_secret", {"service_token": {"client_id": world.client_id}}),
            ("client_secret over 200 characters", {"service_token": long_secret}),
        )
    }
    for body in cases.values():
        assert not world.well_formed(body)
    assert_denied(cases, decide)


def test_nulls_the_schema_does_not_allow_are_not_answered_allow(baseline: World, decide) -> None:
    """DecisionRequest types these as strings or objects, never null: a body with a null there is
    malformed, and a malformed body must not be answered allow (nor anything but a 4xx)."""
    world = baseline
    person = {"application": world.aud, "user": {"email": world.allowed_email}}
    by_token = {"application": world.aud, "token": world.issued_token}
    cases = {
        "ip": {**person, "ip": None},
        "country": {**person, "country": None},
        "token": {**person, "token": None},
        "device_id": {**person, "device_id": None},
        "service_token": {**person, "service_token": None},
        "user": {**by_token, "user": None},
        "user.identity_provider": {**person, "user": {"email": world.allowed_email, "identity_provider": None}},
        "application.path": {**person, "application": {"hostname": world.host, "path": None}},
    }
    answered = {}
    for name, body in cases.items():
        assert not world.well_formed(body), name
        response = decide(body)
        assert response.status_code < 500, (name, response.content)
        answered[name] = (response.status_code, response.json()["decision"])
    wrong = {name: got for name, got in answered.items() if got[1] != "deny" or not 400 <= got[0] < 500}
    assert not wrong, f"null accepted where the schema says string/object (status, decision): {wrong}"


def test_strings_with_nul_characters_are_denied(baseline: World, decide) -> None:
    """JSON allows U+0000 in strings (so the schema does), PostgreSQL text does not: whatever the
    status, such a request must not error out or be allowed."""
    world = baseline
    good = {"application": world.aud, "user": {"email": world.allowed_email}}
    for body in (
        {**good, "application": world.aud[:-1] + "\x00"},
        {**good, "user": {"email": world.allowed_email + "\x00"}},
        {**good, "user": {"email": world.allowed_email, "identity_provider": "okta\x00"}},
        {**good, "device_id": "dev\x00"},
        {**good, "ip": "10.0.0.1\x00"},
        {**good, "service_token": {"client_id": "a\x00", "client_secret": "b"}},
        {"application": {"hostname": world.host + "\x00"}, "user": good["user"]},
    ):
        assert world.well_formed(body)
        response = decide(body)
        assert response.status_code < 500, (body, response.content)
        assert response.json()["decision"] == "deny" and response.json()["token"] is None, (body, response.json())
