"""The OpenAI connector against OpenAI's own OpenAPI document: every replayed Admin API answer
carries only what the document's component schemas describe, and every field the mapping reads
is one they have. (The ChatGPT Compliance API has no published OpenAPI document; its routes are
listed as unchecked.)"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shadow_ai.casb import schemacheck
from shadow_ai.casb.connectors.openai import mapping
from shadow_ai.casb.connectors.openai.tests import payloads
from shadow_ai.casb.testing import NOW, SchemaWatch, collect

OPENAI = schemacheck.load("openai_admin")


@pytest.fixture
def openai(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    return make_ctx("openai", credentials={"admin_api_key": payloads.ADMIN_KEY},
                    config={"workspace_id": "ws-acme", "organization_id": "org-acme"})


def test_every_admin_api_answer_and_every_field_read_is_in_openais_schema(openai, vendor_server, monkeypatch):
    watch = SchemaWatch(OPENAI).attach(vendor_server, monkeypatch)
    connector, ctx = openai
    found = collect(connector, ctx)
    assert found.observations
    assert watch.problems == []
    assert watch.undocumented_reads() == []
    assert {r for r in watch.checked if "/organization/" in r} == {
        "GET /v1/organization/admin_api_keys", "GET /v1/organization/projects",
        "GET /v1/organization/projects/proj_web/api_keys", "GET /v1/organization/projects/proj_data/api_keys",
        "GET /v1/organization/users", "GET /v1/organization/invites", "GET /v1/organization/audit_logs"}
    assert all("/v1/compliance/" in r or "/storage/" in r for r in watch.unchecked)
    assert "data[].created_at" in watch.reads.read_paths()


def test_an_invite_is_dated_by_created_at_and_an_older_answer_by_invited_at():
    old = int((NOW - timedelta(days=20)).timestamp())
    stale_before = NOW - timedelta(days=7)
    current = {"object": "organization.invite", "id": "invite-a", "email": "a@acme.example", "role": "reader",
               "status": "pending", "created_at": old, "expires_at": None, "accepted_at": None, "projects": []}
    assert schemacheck.validate(OPENAI, "Invite", current) == []
    assert [o.type_key for o in mapping.invite(current, stale_before=stale_before)] == [mapping.STALE_INVITE.key]
    older = {k: v for k, v in current.items() if k != "created_at"} | {"invited_at": old}
    assert [o.type_key for o in mapping.invite(older, stale_before=stale_before)] == [mapping.STALE_INVITE.key]
    assert [str(p) for p in schemacheck.validate(OPENAI, "Invite", older)] == [
        "invited_at: is not a member the vendor documents"]
