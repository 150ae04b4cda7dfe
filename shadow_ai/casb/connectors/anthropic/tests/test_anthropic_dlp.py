"""DLP scans of the downloadable files of a workspace (Files API, beta), with a regular API key."""

from __future__ import annotations

import pytest

from shadow_ai.casb.connectors.anthropic import mapping
from shadow_ai.casb.connectors.anthropic.tests import payloads
from shadow_ai.casb.testing import Response, collect, predefined_dlp

WORKSPACE_KEY = "sk-ant-api03-replay-workspace"
CREDS = {"admin_api_key": payloads.ADMIN_KEY, "api_key": WORKSPACE_KEY}


@pytest.fixture
def anthropic(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    connector, ctx = make_ctx("anthropic", credentials=CREDS)
    ctx.dlp = predefined_dlp("financial_information", max_bytes=4096)
    return connector, ctx


def test_a_downloadable_file_with_a_card_number_is_a_finding_with_redacted_samples(anthropic, vendor_server):
    connector, ctx = anthropic
    found = collect(connector, ctx)
    assert found.keys(mapping.DLP_FILE.key) == {"file:file_011Report"}
    report = found.of(mapping.DLP_FILE.key)[0]
    assert report.asset == "refunds.txt" and report.details["dlp_profiles"] == ["Financial Information"]
    assert report.details["dlp_samples"][0]["match"] == "XXXX XXXX XXXX XXXX"
    assert payloads.CARD not in str(report.details)
    assert "Downloadable files: 1 larger than 4 KiB (CASB_DLP_MAX_BYTES) and 1 not text (images, PDFs, office " \
           "and other binary files) were not scanned for DLP matches." in found.warnings


def test_files_are_paged_with_the_workspace_key_and_the_beta_header(anthropic, vendor_server):
    connector, ctx = anthropic
    collect(connector, ctx)
    pages = vendor_server.hits("/v1/files")
    assert [p.arg("after_id") for p in pages] == [None, "file_011Report", "file_011Chart"]
    assert all(p.headers["x-api-key"] == WORKSPACE_KEY and p.headers["anthropic-beta"] == "files-api-2025-04-14"
               for p in pages)
    downloaded = {r.path for r in vendor_server.requests if r.path.endswith("/content")}
    # Not the upload (not downloadable), not the PNG (not text), not the dump (its size says too large).
    assert downloaded == {"/v1/files/file_011Report/content", "/v1/files/file_011Summary/content"}


def test_a_file_larger_than_it_said_is_not_read_past_the_cap(anthropic, vendor_server):
    connector, ctx = anthropic
    rows = payloads.files()
    rows[1]["size_bytes"] = 100  # the listing undersells it
    vendor_server.route("GET", "/v1/files", {"data": rows[:2], "has_more": False, "first_id": "file_011Upload",
                                             "last_id": "file_011Report"})
    vendor_server.route("GET", "/v1/files/file_011Report/content", Response(200, raw=b"4111 1111 1111 1111 " * 500))
    found = collect(connector, ctx)
    assert found.of(mapping.DLP_FILE.key) == []
    assert found.state["dlp_files"]["dlp_files"] == {"large": 1}


def test_without_a_workspace_key_or_profiles_the_type_stays_unchecked(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    connector, ctx = make_ctx("anthropic", credentials={"admin_api_key": payloads.ADMIN_KEY})
    ctx.dlp = predefined_dlp("financial_information")
    found = collect(connector, ctx)
    assert "workspace API key" in found.skipped["dlp_files"]
    assert mapping.DLP_FILE.key in found.state["unchecked"]
    connector, ctx = make_ctx("anthropic", credentials=CREDS)
    found = collect(connector, ctx)
    assert "choose DLP profiles" in found.skipped["dlp_files"]
    assert vendor_server.hits("/v1/files") == []


def test_the_connection_test_checks_the_files_api_without_requiring_it(anthropic, vendor_server):
    connector, ctx = anthropic
    vendor_server.route("GET", "/v1/files", Response(401, {"type": "error", "error": {
        "type": "authentication_error", "message": "invalid x-api-key"}}))
    checks = connector.check(ctx)
    files = next(c for c in checks if c.name == "Files API")
    assert not files.ok and not files.required and "invalid x-api-key" in files.detail
    found = collect(connector, ctx)
    assert "refused the workspace API key" in found.skipped["dlp_files"]
    assert found.keys(mapping.HIGH_INVITE.key) == {"invite:invite_01Adm"}  # the rest of the scan went on
