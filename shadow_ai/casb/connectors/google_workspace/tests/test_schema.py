"""The Google Workspace and Gemini connectors against Google's own discovery documents (Directory,
Enterprise License Manager, Drive, Calendar and Gmail APIs): every replayed answer carries only
what the response schemas describe, and every field the mappings read is one they have."""

from __future__ import annotations

from shadow_ai.casb import schemacheck
from shadow_ai.casb.connectors.gemini.tests import payloads as gemini_payloads
from shadow_ai.casb.connectors.google_workspace.tests import payloads
from shadow_ai.casb.testing import SchemaWatch, collect

GOOGLE = schemacheck.load("google_workspace")


def test_every_workspace_answer_and_every_field_read_is_in_googles_discovery_documents(make_ctx, vendor_server,
                                                                                       monkeypatch):
    payloads.serve(vendor_server, scopes=payloads.ALL_SCOPES)
    connector, ctx = make_ctx("google_workspace", credentials={"service_account_json": payloads.service_account_json()},
                              config={"admin_email": payloads.ADMIN})
    watch = SchemaWatch(GOOGLE).attach(vendor_server, monkeypatch)
    found = collect(connector, ctx)
    assert found.observations and not found.skipped
    assert watch.problems == []
    assert watch.undocumented_reads() == []
    assert {r.split(" ", 1)[1] for r in watch.unchecked} == {"/token"}  # the OAuth token endpoint
    assert {"GET /drive/v3/files", "GET /calendar/v3/calendars/primary/acl",
            "GET /gmail/v1/users/me/settings/delegates", "GET /admin/directory/v1/users"} <= watch.checked
    read = watch.reads.read_paths()
    assert {"users[].isEnrolledIn2Sv", "items[].scopes", "files[].permissions"} <= read


def test_every_gemini_answer_and_every_field_read_is_in_googles_discovery_documents(make_ctx, vendor_server,
                                                                                    monkeypatch):
    gemini_payloads.serve(vendor_server)
    connector, ctx = make_ctx("gemini", credentials={"service_account_json": gemini_payloads.service_account_json()},
                              config={"admin_email": gemini_payloads.ADMIN})
    watch = SchemaWatch(GOOGLE).attach(vendor_server, monkeypatch)
    found = collect(connector, ctx)
    assert found.observations
    assert watch.problems == [] and watch.undocumented_reads() == []
    assert "GET /apps/licensing/v1/product/101047/users" in watch.checked
    assert "items[].skuId" in watch.reads.read_paths()


def test_a_field_the_directory_api_lacks_is_reported():
    page = {"kind": "admin#directory#users", "users": [{"primaryEmail": "a@acme.example", "is2faOn": True}]}
    schema = schemacheck.route_schema(GOOGLE, "GET", "/admin/directory/v1/users")
    assert [str(p) for p in schemacheck.validate(GOOGLE, schema, page)] == [
        "users[0].is2faOn: is not a member the vendor documents"]
