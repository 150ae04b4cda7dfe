"""DLP scans of ChatGPT files through the Compliance API: conversation uploads, GPT knowledge files
and project files are downloaded (text only, up to the cap) and scanned with the profiles."""

from __future__ import annotations

import pytest

from shadow_ai.casb.connectors.openai import mapping
from shadow_ai.casb.connectors.openai.tests import payloads
from shadow_ai.casb.testing import collect, predefined_dlp

CREDS = {"admin_api_key": payloads.ADMIN_KEY, "compliance_api_key": "sk-compliance-replay"}
BASE = "/v1/compliance/workspaces/ws-acme"
DLP_STEPS = {"dlp_gpt_files", "dlp_project_files", "dlp_conversation_files"}


@pytest.fixture
def openai(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    connector, ctx = make_ctx("openai", credentials=CREDS, config={"workspace_id": "ws-acme"})
    ctx.dlp = predefined_dlp("financial_information", max_bytes=4096)
    return connector, ctx


def test_files_with_a_card_number_are_findings_with_redacted_samples(openai, vendor_server):
    connector, ctx = openai
    found = collect(connector, ctx)
    assert found.keys(mapping.DLP_GPT.key) == {"gpt_file:file-GptCards"}
    assert found.keys(mapping.DLP_CONVERSATION.key) == {"conversation_file:file-ConvCards"}
    assert found.keys(mapping.DLP_PROJECT.key) == set()  # notes are clean, the export too large to scan
    gpt_file = found.of(mapping.DLP_GPT.key)[0]
    assert gpt_file.asset == "customers.csv" and gpt_file.owner == "ada@acme.example"
    assert gpt_file.details["gpt"] == "Spreadsheet analyst" and gpt_file.details["gpt_id"] == "g-analyst"
    assert gpt_file.details["dlp_profiles"] == ["Financial Information"]
    sample = gpt_file.details["dlp_samples"][0]
    assert sample["match"] == "XXXX XXXX XXXX XXXX" and "Ada Lovelace" in sample["context"]
    assert payloads.CARD not in str(gpt_file.details)
    upload = found.of(mapping.DLP_CONVERSATION.key)[0]
    assert upload.owner == "ada@acme.example" and upload.details["conversation"] == "Summarize customers"
    assert upload.details["conversation_id"] == "conv-cards"
    assert len(found.of(mapping.DLP_CONVERSATION.key)) == 1  # attached twice, scanned and reported once
    assert set(found.skipped) == set()


def test_downloads_use_the_compliance_key_and_never_send_it_to_storage(openai, vendor_server):
    connector, ctx = openai
    collect(connector, ctx)
    asked = vendor_server.hits(f"{BASE}/gpt_files/file-GptCards")
    assert asked[0].headers["Authorization"] == "Bearer sk-compliance-replay"
    stored = vendor_server.hits("/storage/file-GptCards")
    assert len(stored) == 1 and "Authorization" not in stored[0].headers and stored[0].arg("sig") == "abc"
    # Only text is downloaded: the PNG is passed over by its name, the export by its size after 4 KiB.
    assert vendor_server.hits(f"{BASE}/gpt_files/file-GptLogo") == []
    assert len(vendor_server.hits(f"{BASE}/users/user-ada/files/file-ConvCards")) == 1


def test_binary_and_oversized_files_are_counted_in_one_warning_per_step(openai):
    connector, ctx = openai
    found = collect(connector, ctx)
    assert "GPT files: 1 not text (images, PDFs, office and other binary files) were not scanned for DLP " \
           "matches." in found.warnings
    assert "Project files: 1 larger than 4 KiB (CASB_DLP_MAX_BYTES) were not scanned for DLP matches." \
           in found.warnings
    assert found.state["dlp_files"]["dlp_conversation_files"] == {"scanned": 2}


def test_conversations_are_paged_and_long_ones_read_from_their_messages(openai, vendor_server):
    connector, ctx = openai
    collect(connector, ctx)
    pages = vendor_server.hits(f"{BASE}/conversations")
    assert [(p.arg("after"), p.arg("since_timestamp")) for p in pages] == [(None, "0"), ("conv-chat", None)]
    assert all(p.arg("file_format") == "id" for p in pages)
    messages = vendor_server.hits(f"{BASE}/conversations/conv-long/messages")
    assert [m.arg("after") for m in messages] == [None, "msg-4"]
    assert len(vendor_server.hits(f"{BASE}/users/user-cy/files/file-ConvClean")) == 1


def test_without_dlp_profiles_nothing_is_downloaded_and_the_types_stay_unchecked(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    connector, ctx = make_ctx("openai", credentials=CREDS, config={"workspace_id": "ws-acme"})
    found = collect(connector, ctx)
    assert DLP_STEPS <= set(found.skipped)
    assert "choose DLP profiles" in found.skipped["dlp_gpt_files"]
    assert set(mapping.DLP_TYPES) <= set(found.state["unchecked"])
    assert not [r for r in vendor_server.requests if "/files/" in r.path or "_files/" in r.path]


def test_without_a_workspace_the_file_scans_say_what_they_need(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    connector, ctx = make_ctx("openai", credentials=CREDS)
    ctx.dlp = predefined_dlp("financial_information")
    found = collect(connector, ctx)
    assert "workspace ID" in found.skipped["dlp_conversation_files"]
    assert set(mapping.DLP_TYPES) <= set(found.state["unchecked"])
