"""Schemathesis over every OpenAPI document the console serves: 0 × 5xx and 0 schema violations.

The console serves one OpenAPI document, ``GET /api/v1/openapi.json`` (the Access decision API,
with the Gateway, telemetry and risk score endpoints added by their apps). Every operation in it
is driven in-process through Django's WSGI application with schemathesis' positive and negative
(schema-violating) data and every default check: no server error, documented status code,
content type, headers and body (formats included: date-times are RFC 3339), and negative data
rejected. Requests carry valid credentials of the scope each operation names, and path
parameters are steered half of the time to objects that exist, so answers with data in them
(people with risk levels and timestamps, stored batches) are checked, not only the 401s and 404s.

The Access and Gateway fuzz tests (test_api_fuzz.py, shadow_ai/tests/test_evaluate_fuzz.py) run
many more examples of those two endpoints with their fail-closed invariants; this module covers
the whole document with a bounded number of examples per operation, derandomized so a failure
reproduces. A method an operation does not declare is a 405 with ``Allow`` and a JSON body."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENTS = ["/api/v1/openapi.json"]  # every OpenAPI document the console serves
OPERATIONS = [
    ("/api/v1/access/decide", "POST"),
    ("/api/v1/access/jwks.json", "GET"),
    ("/api/v1/gateway/evaluate", "POST"),
    ("/api/v1/telemetry/{kind}", "POST"),
    ("/api/v1/telemetry/batches/{batch_id}", "GET"),
    ("/api/v1/risk/behaviours", "GET"),
    ("/api/v1/risk/users", "GET"),
    ("/api/v1/risk/users/{user_id}", "GET"),
    ("/api/v1/risk/users/{user_id}/reset", "POST"),
]
EXAMPLES = 25  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
KINDS = ["access_requests", "gateway_http", "gateway_dns", "crowdstrike_zta", "sentinelone_threats"]
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@pytest.fixture
def world(super_admin, make_user) -> dict[str, Any]:
    """What the steered requests find: an API token with every scope the document names, a
    telemetry source (and a stored batch) per kind, and a person with a risk level."""
    from console.access.services import api_token_create
    from risk.models import Level, UserRisk
    from risk.services.batches import ingest
    from risk.services.sources import telemetry_source_create

    _, token = api_token_create(actor=super_admin, name="everything",
                                scopes=["access:decide", "gateway:evaluate", "risk:read", "risk:write"])
    sources, batches = {}, []
    for kind in KINDS:
        source, secret = telemetry_source_create(actor=super_admin, name=f"{kind} sender", kind=kind)
        sources[kind] = secret
        batches.append(str(ingest(source=source, body=b'{"not": "a valid row"}\n').pk))
    person = make_user(email="ann@corp.example")
    moment = datetime(2026, 12, 7, 16, 3, 26, tzinfo=UTC)
    UserRisk.objects.update_or_create(user=person, defaults={"level": Level.HIGH, "changed_at": moment,
                                                            "last_reset_at": moment})
    return {"token": token, "sources": sources, "batches": batches, "user_id": person.pk}


@pytest.fixture
def schema(world):
    return schemathesis.openapi.from_wsgi(DOCUMENTS[0], get_wsgi_application())


def prepare(case, steer: bool, world: dict[str, Any]) -> None:
    """Credentials of the right kind, and (when ``steer``) path parameters that exist."""
    params = dict(case.path_parameters or {})
    if steer:
        if "user_id" in params:
            params["user_id"] = world["user_id"]
        if "batch_id" in params:
            params["batch_id"] = world["batches"][0]
        case.path_parameters = params
    headers = dict(case.headers or {})
    if case.path.startswith("/api/v1/telemetry/"):
        kind = params.get("kind")
        secret = world["sources"].get(kind) if isinstance(kind, str) else None
        headers["Authorization"] = f"Bearer {secret or world['sources']['access_requests']}"
    elif case.path != "/api/v1/access/jwks.json":
        headers["Authorization"] = f"Bearer {world['token']}"
    case.headers = headers


def test_the_document_lists_the_operations_tested(client) -> None:
    """A new endpoint in the document must be added to OPERATIONS (and so get fuzzed)."""
    document = client.get(DOCUMENTS[0]).json()
    served = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    assert served == set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_operation_conforms(schema, world, path: str, method: str, mode: GenerationMode) -> None:
    operation = schema[path][method]
    if mode is GenerationMode.NEGATIVE and not (operation.definition.raw.get("parameters")
                                                or operation.definition.raw.get("requestBody")):
        pytest.skip("nothing in this operation's request can be made invalid")
    failures: list[str] = []
    statuses: set[int] = set()

    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=False,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), steer=st.booleans())
    def run(case, steer: bool) -> None:
        prepare(case, steer, world)
        case.meta  # noqa: B018 - reading it re-labels the case positive/negative after the preparation
        response = case.call()
        statuses.add(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            sent = f"{response.request.headers.get('Content-Type')} {response.request.body!r:.300}"
            failures.extend(f"{method} {path} → {response.status_code}: {exc}\nSent: {sent}"
                            for exc in group.exceptions)
        except AssertionError as exc:
            failures.append(f"{method} {path} → {response.status_code}: {exc}")

    run()
    assert not failures, "\n\n".join(failures[:5]) + f"\n\n({len(failures)} failures)"
    assert statuses, "no request was sent"


def _undeclared(client, world, path: str, declared: set[str]):
    concrete = (path.replace("{kind}", "access_requests").replace("{batch_id}", world["batches"][0])
                .replace("{user_id}", str(world["user_id"])))
    token = world["sources"]["access_requests"] if "/telemetry/" in path else world["token"]
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        if method not in declared:
            response = client.generic(method, concrete, data=b"{}", content_type="application/json",
                                      headers={"Authorization": f"Bearer {token}"})
            yield method, response


def test_undeclared_methods_are_405_with_allow(client, world) -> None:
    document = client.get(DOCUMENTS[0]).json()
    wrong = []
    for path, item in [*document["paths"].items(), ("/api/v1/openapi.json", {"get": {}})]:
        declared = {method.upper() for method in item}
        for method, response in _undeclared(client, world, path, declared):
            allow = {m.strip() for m in response.get("Allow", "").split(",") if m.strip()}
            if (response.status_code != 405 or allow != declared
                    or response["Content-Type"] != "application/json" or not isinstance(response.json(), dict)):
                wrong.append((method, path, response.status_code, response.get("Allow"), response["Content-Type"]))
    assert not wrong


def test_the_405_bodies_keep_each_api_s_shape(client, world) -> None:
    """Access denies, the Gateway blocks, the risk API names the field: a wrong method is no exception."""
    headers = {"Authorization": f"Bearer {world['token']}"}
    decide = client.get("/api/v1/access/decide", headers=headers)
    assert decide.status_code == 405 and decide.json()["decision"] == "deny" and decide["Allow"] == "POST"
    evaluate = client.put("/api/v1/gateway/evaluate", headers=headers)
    assert evaluate.status_code == 405 and evaluate.json()["action"] == "block" and evaluate["Allow"] == "POST"
    person = client.delete(f"/api/v1/risk/users/{world['user_id']}", headers=headers)
    assert person.status_code == 405 and person.json()["field"] == "method" and person["Allow"] == "GET"


def test_ssf_endpoints_answer_405_with_allow(client, super_admin) -> None:
    from console.access.services import api_token_create

    _, token = api_token_create(actor=super_admin, name="receiver", scopes=["ssf:stream"])
    headers = {"Authorization": f"Bearer {token}"}
    for path, allowed in (("/ssf/streams", "GET, POST, PATCH, PUT, DELETE"), ("/ssf/status", "GET, POST"),
                          ("/ssf/subjects/add", "POST"), ("/ssf/subjects/remove", "POST"), ("/ssf/verify", "POST"),
                          ("/ssf/poll/abc", "POST"), ("/ssf/jwks.json", "GET"),
                          ("/.well-known/ssf-configuration", "GET")):
        response = client.generic("OPTIONS", path, headers=headers)
        assert response.status_code == 405, path
        assert response["Allow"] == allowed, path
        assert response.json()["err"] == "invalid_request", path


def test_risk_timestamps_are_rfc3339(client, world) -> None:
    headers = {"Authorization": f"Bearer {world['token']}"}
    listing = client.get("/api/v1/risk/users", headers=headers).json()
    person = client.get(f"/api/v1/risk/users/{world['user_id']}", headers=headers).json()
    for answer in (listing["users"][0], person):
        assert answer["level_since"] == "2026-12-07T16:03:26Z"
        assert answer["last_reset_time"] == "2026-12-07T16:03:26Z"


def test_decision_expiry_is_rfc3339(client, super_admin, world) -> None:
    from console.access import services

    staff = services.policy_create(actor=super_admin, name="Staff", action="allow",
                                   rules={"include": [{"type": "email_domain", "values": ["corp.example"]}]})
    wiki = services.application_create(actor=super_admin, name="Wiki", type="self_hosted", domain="wiki.corp.example")
    services.application_set_policies(actor=super_admin, application=wiki, policy_ids=[staff.pk])
    answer = client.post("/api/v1/access/decide", {"application": wiki.aud, "user": {"email": "ann@corp.example"}},
                         content_type="application/json", headers={"Authorization": f"Bearer {world['token']}"})
    assert answer.json()["decision"] == "allow"
    assert RFC3339.match(answer.json()["expires_at"]) and answer.json()["expires_at"].endswith("Z")


@pytest.mark.parametrize("value", [None, 5, ["x"], {"text": "x"}])
def test_evaluate_refuses_a_body_that_is_not_a_string(client, world, value) -> None:
    """The document types ``body`` as a string: null is malformed too, never "no body"."""
    answer = client.post("/api/v1/gateway/evaluate", {"hostname": "chatgpt.com", "user": {"email": "ann@corp.example"},
                                                      "body": value},
                         content_type="application/json", headers={"Authorization": f"Bearer {world['token']}"})
    assert answer.status_code == 400
    assert answer.json()["action"] == "block" and answer.json()["field"] == "body"


def test_every_api_view_declares_its_methods() -> None:
    """Each API view sits behind ``apijson.allow_methods`` (405 JSON with Allow), never a bare view."""
    from django.urls import get_resolver

    from console.core.permissions import API

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern.callback

    bare = [route for route, view in walk(get_resolver().url_patterns)
            if (getattr(view, "console_access", None) == API or route.startswith("api/v1/"))
            and not getattr(view, "allowed_methods", None)]
    assert not bare


def _ingest(client, world, body: bytes, content_type: str = "application/x-ndjson"):
    return client.post("/api/v1/telemetry/access_requests", body, content_type=content_type,
                       headers={"Authorization": f"Bearer {world['sources']['access_requests']}"})


def test_a_rejected_row_whose_field_holds_a_nul_is_reported_not_a_500(client, world) -> None:
    """Found by the run: the rejected-row report named a key holding U+0000, which PostgreSQL's
    jsonb refuses, and the batch answered 500."""
    answer = _ingest(client, world, b'{"Email\\u0000x": "a\\u0000b"}\n')
    assert answer.status_code == 200, answer.content
    assert answer.json()["rejected_count"] == 1 and "\x00" not in answer.json()["rejected"][0]["field"]


def test_a_body_that_is_not_utf8_is_a_400(client, world) -> None:
    answer = _ingest(client, world, b"\xff\xfe\x00garbage\n")
    assert answer.status_code == 400 and answer.json()["field"] == "body"


def test_ndjson_labelled_application_json_is_stored_as_ndjson(client, world) -> None:
    """Log shippers often send NDJSON as application/json: the body decides, not the label."""
    import json
    from datetime import UTC, datetime

    from risk.tests.factories import access_row

    now = datetime.now(UTC)
    rows = [access_row(email, now, ip="203.0.113.9") for email in ("a@corp.example", "b@corp.example")]
    answer = _ingest(client, world, "\n".join(json.dumps(row) for row in rows).encode(),
                     content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["rejected_count"] == 0 and answer.json()["stored"] == 2, answer.json()


@pytest.mark.parametrize("body", [b"5", b'"rows"', b"null"])
def test_a_json_body_that_holds_no_rows_reports_its_line(client, world, body: bytes) -> None:
    answer = _ingest(client, world, body, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["rejected_count"] == 1


def test_an_array_of_rows_that_are_not_objects_reports_each(client, world) -> None:
    """The document types the rows loosely on purpose: a bad row never blocks the batch."""
    answer = _ingest(client, world, b'[1, "two", {"Email": "x"}]', content_type="application/json")
    assert answer.status_code == 200 and answer.json()["rejected_count"] == 3


@pytest.mark.parametrize("level", ["", "HIGH", "severe"])
def test_a_level_outside_the_documented_ones_is_a_400(client, world, level: str) -> None:
    answer = client.get("/api/v1/risk/users", {"level": level}, headers={"Authorization": f"Bearer {world['token']}"})
    assert answer.status_code == 400 and answer.json()["field"] == "level"


@pytest.mark.parametrize("path", ["/api/v1/risk/users/false", "/api/v1/telemetry/batches/not-a-uuid", "/api/v1/nope"])
def test_unknown_api_paths_are_a_json_404(client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404 and answer["Content-Type"] == "application/json"
    assert answer.json()["field"] == "path"
