"""AI applications found through OAuth grants reach the Shadow AI library as discovered."""

from __future__ import annotations

import pytest

from console.audit.models import AuditEvent
from shadow_ai.casb import discovery
from shadow_ai.casb.connectors.google_workspace.tests import payloads as google
from shadow_ai.casb.connectors.microsoft_365.tests import payloads as microsoft
from shadow_ai.casb.models import DiscoveredApp, FindingInstance, ScanRun
from shadow_ai.models import Application, Status

pytestmark = pytest.mark.django_db


def test_google_grants_are_matched_to_library_apps_by_name(library, make_integration, vendor_server, scan):
    google.serve(vendor_server)
    integration = make_integration("google_workspace", credentials={
        "service_account_json": google.service_account_json()}, config={"admin_email": google.ADMIN})
    run = scan(integration)
    assert run.status == ScanRun.Status.SUCCEEDED, run.messages
    chatgpt = DiscoveredApp.objects.get(name="ChatGPT")
    assert chatgpt.application.key == "chatgpt" and chatgpt.match == "name" and chatgpt.is_ai
    assert chatgpt.user_count == 2 and chatgpt.users == ["ben@acme.example", "cleo@acme.example"]
    grants = FindingInstance.objects.filter(details__client_id=chatgpt.external_id)
    assert grants.count() == 2 and {g.application_id for g in grants} == {chatgpt.application_id}
    notetaker = DiscoveredApp.objects.get(name="Notetaker AI")
    # An AI app without hostnames cannot become a library entry: it waits for an admin.
    assert notetaker.is_ai and notetaker.application is None
    puzzle = DiscoveredApp.objects.get(name="Puzzle Night")
    assert not puzzle.is_ai and puzzle.application is None


def test_an_unknown_ai_app_with_hostnames_is_added_to_the_library(library, make_integration, vendor_server, scan):
    microsoft.serve(vendor_server)
    integration = make_integration("microsoft_365", credentials={"client_secret": microsoft.SECRET},
                                   config={"tenant_id": microsoft.TENANT, "client_id": microsoft.CLIENT_ID})
    assert scan(integration).status == ScanRun.Status.SUCCEEDED
    chatgpt = DiscoveredApp.objects.get(name="ChatGPT")
    assert chatgpt.application.key == "chatgpt" and chatgpt.match == "hostname"
    genie = DiscoveredApp.objects.get(name="Summarize Genie AI")
    assert genie.match == "created" and genie.users == ["All users"]
    app = genie.application
    assert app.is_custom and app.is_gen_ai and app.status == Status.UNREVIEWED
    assert list(app.hostnames.values_list("hostname", flat=True)) == ["app.summarizegenie.ai"]
    event = AuditEvent.objects.get(action="shadow_ai.application.discovered")
    assert event.actor_email == "" and "Summarize Genie AI" in event.object_repr
    assert "CASB integration" in event.changes["found_by"]
    scan(integration)  # a second scan links the same entry again
    assert Application.objects.filter(name="Summarize Genie AI").count() == 1


def test_an_app_no_longer_granted_is_marked_resolved(library, make_integration, vendor_server, scan):
    microsoft.serve(vendor_server)
    integration = make_integration("microsoft_365", credentials={"client_secret": microsoft.SECRET},
                                   config={"tenant_id": microsoft.TENANT, "client_id": microsoft.CLIENT_ID})
    scan(integration)
    grants = [g for g in microsoft.grants() if g["clientId"] != "sp-summarize"]
    vendor_server.route("GET", "/v1.0/oauth2PermissionGrants", {"value": grants})
    scan(integration)
    assert DiscoveredApp.objects.get(name="Summarize Genie AI").resolved_at is not None
    assert DiscoveredApp.objects.get(name="ChatGPT").resolved_at is None


def test_the_ai_heuristic():
    assert discovery.looks_like_ai("Otter.ai Notetaker")
    assert discovery.looks_like_ai("Acme Copilot")
    assert discovery.looks_like_ai("Writer", ["app.writer.ai"])
    assert not discovery.looks_like_ai("Mail Merge Pro", ["mailmerge.example"])
    assert not discovery.looks_like_ai("Trail Mix")
