"""The Anthropic connector against the types Anthropic generates from its API specification into
its SDK: every replayed Admin API and Files API answer carries only what those types describe, and
every field the mapping reads is one they have. (The usage report has no type in the SDK and is
listed as unchecked.)"""

from __future__ import annotations

from shadow_ai.casb import schemacheck
from shadow_ai.casb.connectors.anthropic import mapping
from shadow_ai.casb.connectors.anthropic.tests import payloads
from shadow_ai.casb.connectors.anthropic.tests.test_anthropic_dlp import CREDS
from shadow_ai.casb.testing import NOW, SchemaWatch, collect, predefined_dlp

ANTHROPIC = schemacheck.load("anthropic_admin")


def test_every_answer_and_every_field_read_is_in_anthropics_types(make_ctx, vendor_server, monkeypatch):
    payloads.serve(vendor_server)
    connector, ctx = make_ctx("anthropic", credentials=CREDS)
    ctx.dlp = predefined_dlp("financial_information", max_bytes=4096)
    watch = SchemaWatch(ANTHROPIC).attach(vendor_server, monkeypatch)
    found = collect(connector, ctx)
    assert found.observations and not found.skipped
    assert watch.problems == []
    assert watch.undocumented_reads() == []
    assert {"GET /v1/organizations/api_keys", "GET /v1/organizations/invites", "GET /v1/organizations/users",
            "GET /v1/organizations/workspaces", "GET /v1/files"} <= watch.checked
    assert {r for r in watch.unchecked if "/content" not in r} == {"GET /v1/organizations/usage_report/messages"}
    assert {"data[].scope.workspace_id", "data[].invited_at", "data[].downloadable"} <= watch.reads.read_paths()


def test_a_key_names_its_workspace_from_its_scope_and_an_older_answer_from_workspace_id():
    from datetime import timedelta

    created = (NOW - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    current = {"id": "apikey_1", "type": "api_key", "name": "bot", "created_at": created, "expires_at": None,
               "status": "active", "created_by": {"id": "user_1", "type": "user"},
               "scope": {"type": "workspace", "workspace_id": "wrkspc_1"}}
    assert schemacheck.validate(ANTHROPIC, "APIKey", current) == []
    args = {"used": set(), "unused_before": NOW - timedelta(days=30), "workspaces": {"wrkspc_1": "Production"},
            "people": {}}
    assert {o.details["workspace"] for o in mapping.api_key(current, **args)} == {"Production"}
    older = {k: v for k, v in current.items() if k != "scope"} | {"workspace_id": "wrkspc_1"}
    assert {o.details["workspace"] for o in mapping.api_key(older, **args)} == {"Production"}
    assert [str(p) for p in schemacheck.validate(ANTHROPIC, "APIKey", older)] == [
        "workspace_id: is not a member the vendor documents"]
