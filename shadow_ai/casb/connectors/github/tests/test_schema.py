"""The GitHub connector against GitHub's own REST API OpenAPI description: every replayed answer
carries only what the operations' response schemas describe, and every field the mapping reads is
one they have."""

from __future__ import annotations

from shadow_ai.casb import schemacheck
from shadow_ai.casb.connectors.github.tests import payloads
from shadow_ai.casb.connectors.github.tests.test_github import CONFIG
from shadow_ai.casb.testing import SchemaWatch, collect

GITHUB = schemacheck.load("github_rest")


def test_every_answer_and_every_field_read_is_in_githubs_openapi_description(make_ctx, vendor_server, monkeypatch):
    payloads.serve(vendor_server)
    connector, ctx = make_ctx("github", credentials={"private_key": payloads.private_key_pem()}, config=CONFIG)
    watch = SchemaWatch(GITHUB).attach(vendor_server, monkeypatch)
    found = collect(connector, ctx)
    assert found.observations and not found.skipped
    assert watch.problems == []
    assert watch.undocumented_reads() == []
    assert watch.unchecked == set()
    assert {"GET /orgs/acme/credential-authorizations", "GET /orgs/acme/personal-access-tokens",
            "GET /repos/acme/api/branches/main/protection", "GET /orgs/acme/rulesets/201"} <= watch.checked
    read = watch.reads.read_paths()
    assert {"[].token_expires_at", "enforce_admins.enabled", "bypass_actors[].bypass_mode"} <= read


def test_a_member_github_does_not_document_is_reported():
    schema = schemacheck.route_schema(GITHUB, "GET", "/orgs/acme/personal-access-tokens")
    grant = {"id": 1, "token_expires_at": None, "token_expired": False, "expires_soon": True}
    problems = [str(p) for p in schemacheck.validate(GITHUB, schema, [grant])]
    assert "[0].expires_soon: is not a member the vendor documents" in problems
