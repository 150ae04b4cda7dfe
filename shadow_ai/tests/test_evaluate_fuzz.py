"""Property-based run of POST /api/v1/gateway/evaluate against its own OpenAPI document: no
server error, answers as documented, and nothing but a well-formed, authenticated request for a
known person ever gets anything other than ``block``.

The schema is loaded the way the API serves it and the endpoint is driven in-process with
schemathesis' positive and negative (schema-violating) data, steered towards what exists (a
valid token, library hostnames, an active person) so that the non-block answers are reachable
and the invariant is not vacuous."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import jsonschema_rs
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
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db(transaction=True)

EVALUATE = "/api/v1/gateway/evaluate"
EXAMPLES = 150  # per generation mode
PERSON = "ann@corp.example"
HOSTS = ["chatgpt.com", "claude.ai", "chat.deepseek.com", "intranet.corp.example"]


@pytest.fixture
def world(library, app_named, super_admin, make_user) -> dict[str, Any]:
    from console.access.services import api_token_create
    from shadow_ai import services
    from shadow_ai.gateway import services as gateway

    make_user(email=PERSON)
    services.application_set_status(actor=super_admin, application=app_named("ChatGPT"), status="unapproved",
                                    reason="x")
    services.application_set_status(actor=super_admin, application=app_named("Claude"), status="approved",
                                    reason="x")
    gateway.gateway_policy_create(actor=super_admin, name="Redirect", action="redirect", target=app_named("Claude"),
                                  conditions=[{"type": "status", "values": ["unapproved"]}])
    gateway.gateway_policy_create(actor=super_admin, name="Block DeepSeek", action="block",
                                  conditions=[{"type": "application", "values": ["deepseek"]}])
    _, token = api_token_create(actor=super_admin, name="gateway", scopes=["gateway:evaluate"])
    _, access_token = api_token_create(actor=super_admin, name="proxy", scopes=["access:decide"])
    return {"token": token, "access_token": access_token, "seen": Counter()}


@pytest.fixture
def schema(world):
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    request_schema = loaded.raw_schema["components"]["schemas"]["GatewayEvaluateRequest"]
    world["well_formed"] = jsonschema_rs.Draft202012Validator(request_schema).is_valid
    return loaded


STEER = st.fixed_dictionaries({
    "auth": st.sampled_from(["valid"] * 6 + ["none", "wrong_scope", "garbage"]),
    "host": st.sampled_from([*HOSTS, "keep"]),
    "who": st.sampled_from(["person", "person", "keep", "stranger"]),
})


def steer(case, choice: dict[str, str], world: dict[str, Any]) -> None:
    headers = dict(case.headers or {})
    auth = {"valid": f"Bearer {world['token']}", "wrong_scope": f"Bearer {world['access_token']}",
            "garbage": "Bearer ztc_x_y"}.get(choice["auth"])
    if auth:
        headers["Authorization"] = auth
    else:
        headers.pop("Authorization", None)
    case.headers = headers
    if not isinstance(case.body, dict):
        return
    body = copy.deepcopy(case.body)
    if choice["host"] != "keep" and isinstance(body.get("hostname"), str):
        body["hostname"] = choice["host"]
        body.pop("url", None)
    if choice["who"] != "keep" and isinstance(body.get("user"), dict) and isinstance(body["user"].get("email"), str):
        body["user"]["email"] = PERSON if choice["who"] == "person" else "stranger@corp.example"
    if world["well_formed"](case.body) or not world["well_formed"](body):
        case.body = body  # a negative body stays negative


def fails_closed_check(world: dict[str, Any]):
    def fails_closed(ctx, response, case) -> None:
        status = response.status_code
        answer = response.json()
        action = answer.get("action") if isinstance(answer, dict) else None
        raw = response.request.body or b""
        content_type = (response.request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            body = json.loads(raw) if content_type == "application/json" else None
        except (ValueError, UnicodeDecodeError):
            body = None
        well_formed = isinstance(body, dict) and world["well_formed"](body)
        authenticated = response.request.headers.get("Authorization", "") == f"Bearer {world['token']}"
        world["seen"][(status, action, well_formed)] += 1
        assert status < 500
        if status >= 400 or not authenticated or not well_formed:
            assert action == "block", f"{status} {action!r} for {body!r}"
        if not authenticated:
            assert status == 401
        if action != "block":
            assert body["user"]["email"].strip().lower() == PERSON

    return fails_closed


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_evaluate_fuzz(schema, world, mode) -> None:
    operation = schema[EVALUATE]["POST"]
    fails_closed = fails_closed_check(world)
    cases = operation.as_strategy(generation_mode=mode, headers={"Authorization": f"Bearer {world['token']}"})
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
              negative_data_rejection]

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
            case.validate_response(response, checks=checks, additional_checks=[fails_closed])
        except FailureGroup as group:
            raise AssertionError("\n".join(str(e) for e in group.exceptions)) from None

    run()
    seen = world["seen"]
    if mode == GenerationMode.POSITIVE:
        # The invariants were exercised on answers that are not blocks, not only on refusals.
        assert sum(n for (status, action, _), n in seen.items() if status == 200 and action == "redirect") > 0, seen
        assert sum(n for (status, action, _), n in seen.items() if status == 200 and action == "allow") > 0, seen
    assert sum(n for (status, action, _), n in seen.items() if status == 401) > 0, seen
    if mode == GenerationMode.NEGATIVE:
        assert sum(n for (status, action, _), n in seen.items() if status == 400) > 0, seen
