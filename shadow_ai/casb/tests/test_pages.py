"""The CASB pages through Django's test client: connecting, testing, rotating, pausing and
deleting integrations; the progress fragment; findings lists, filters, CSV, ignore, hide, severity
and the Gateway hand-off; what each role may do."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.db import connection

from console.audit.models import AuditEvent
from shadow_ai.casb.connectors.google_workspace.tests import payloads as google
from shadow_ai.casb.connectors.openai.tests import payloads
from shadow_ai.casb.models import Finding, FindingInstance, Integration, ScanRun
from shadow_ai.casb.testing import Response
from shadow_ai.models import GatewayPolicy

pytestmark = pytest.mark.django_db


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def connect_openai(client, server_url: str, key: str = payloads.ADMIN_KEY, **extra):
    return client.post("/shadow-ai/casb/integrations/new/openai/", {
        "name": "OpenAI (Acme)", "admin_api_key": key, "compliance_api_key": "", "organization_id": "",
        "workspace_id": "ws-acme", "scan_interval_hours": "6", "base_url": server_url, **extra})


def test_connecting_tests_first_then_stores_the_key_encrypted_and_starts_a_scan(client_for, super_admin,
                                                                                 vendor_server):
    payloads.serve(vendor_server)
    vendor_server.route("GET", "/v1/organization/admin_api_keys", Response(401, {"error": {
        "message": "Incorrect API key provided", "code": "invalid_api_key"}}))
    client = client_for(super_admin)
    refused = connect_openai(client, vendor_server.url, key="sk-admin-wrong")
    page = body(refused)
    assert refused.status_code == 200 and "Not connected." in page and "Incorrect API key provided" in page
    assert 'data-testid="connection-checks"' in page and "sk-admin-wrong" not in page
    assert not Integration.objects.exists()

    payloads.serve(vendor_server)
    created = connect_openai(client, vendor_server.url)
    integration = Integration.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/shadow-ai/casb/integrations/{integration.pk}/"
    assert integration.secret_values() == {"admin_api_key": payloads.ADMIN_KEY}
    assert integration.scan_interval_hours == 6 and integration.config == {"workspace_id": "ws-acme"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM casb_integration WHERE id = %s", [integration.pk])
        assert payloads.ADMIN_KEY not in cursor.fetchone()[0]
    run = ScanRun.objects.get()
    assert run.status == ScanRun.Status.QUEUED and run.trigger == ScanRun.Trigger.FIRST
    event = AuditEvent.objects.get(action="casb.integration.created")
    assert payloads.ADMIN_KEY not in json.dumps(event.changes) and event.changes["credentials"]["new"] == "[secret]"
    detail = body(client.get(created["Location"]))
    assert "Admin API key: stored encrypted, never shown" in detail and payloads.ADMIN_KEY not in detail
    assert 'data-status="queued"' in detail and "hx-get" in detail
    form = body(client.get(f"/shadow-ai/casb/integrations/{integration.pk}/credentials/"))
    assert payloads.ADMIN_KEY not in form and 'type="password"' in form


def test_bad_input_names_the_field(client_for, super_admin, vendor_server):
    client = client_for(super_admin)
    page = body(client.post("/shadow-ai/casb/integrations/new/google_workspace/", {
        "name": "Google", "service_account_json": "{}", "admin_email": "root@acme.example",
        "scan_interval_hours": "30"}))
    assert "Ensure this value is less than or equal to 24." in page
    page = body(client.post("/shadow-ai/casb/integrations/new/google_workspace/", {
        "name": "Google", "service_account_json": "{}", "admin_email": "root@acme.example",
        "scan_interval_hours": "6"}))
    assert "This JSON is not a service account key" in page and not Integration.objects.exists()
    page = body(client.post("/shadow-ai/casb/integrations/new/openai/", {
        "name": "X", "admin_api_key": "k", "scan_interval_hours": "6", "base_url": "ftp://x"}))
    assert "Give a URL like http://127.0.0.1:8900" in page


def test_the_vendor_address_is_refused_when_overrides_are_off(client_for, super_admin, vendor_server, settings):
    settings.CASB_ALLOW_BASE_URL_OVERRIDE = False
    client = client_for(super_admin)
    form = body(client.get("/shadow-ai/casb/integrations/new/openai/"))
    assert "Vendor address" not in form
    from console.core.errors import ValidationFailed
    from shadow_ai.casb import services

    with pytest.raises(ValidationFailed, match="only be set outside production"):
        services.clean_base_url(vendor_server.url)


def test_test_connection_rotate_pause_resume_and_delete(client_for, super_admin, openai_integration, vendor_server,
                                                         settings):
    client = client_for(super_admin)
    url = f"/shadow-ai/casb/integrations/{openai_integration.pk}"
    results = body(client.post(f"{url}/test/", HTTP_HX_REQUEST="true"))
    assert "Connection works" in results and "<html" not in results
    Integration.objects.filter(pk=openai_integration.pk).update(status="needs_attention",
                                                                attention_message="Key refused")
    rotated = client.post(f"{url}/credentials/", {"admin_api_key": "sk-admin-new", "compliance_api_key": ""})
    assert rotated.status_code == 302
    openai_integration.refresh_from_db()
    assert openai_integration.secret_values()["admin_api_key"] == "sk-admin-new"
    assert openai_integration.status == "active" and not openai_integration.attention_message
    assert AuditEvent.objects.filter(action="casb.integration.credentials_rotated").exists()
    assert ScanRun.objects.filter(integration=openai_integration, status="queued").count() == 1
    assert client.post(f"{url}/pause/").status_code == 302
    openai_integration.refresh_from_db()
    assert openai_integration.status == "paused"
    assert ScanRun.objects.get().status == ScanRun.Status.CANCELLED  # the queued scan stops with it
    paused = body(client.get(f"{url}/"))
    assert 'data-testid="scan-now"' not in paused and 'data-testid="resume"' in paused
    client.post(f"{url}/resume/")
    openai_integration.refresh_from_db()
    assert openai_integration.status == "active"
    settings.CASB_TEST_CONNECTION_LIMIT = 1
    client.post(f"{url}/test/", HTTP_HX_REQUEST="true")
    limited = body(client.post(f"{url}/test/", HTTP_HX_REQUEST="true"))
    assert "Too many connection tests" in limited
    assert client.post(f"{url}/delete/").status_code == 302
    assert not Integration.objects.exists() and AuditEvent.objects.filter(action="casb.integration.deleted").exists()


def test_the_progress_fragment_polls_while_running_and_stops_when_done(client_for, auditor, openai_integration):
    run = ScanRun.objects.create(integration=openai_integration, status="running", steps_total=4, step_index=1,
                                 step_label="Checking pending invites", step_pages=1)
    client = client_for(auditor)
    running = client.get(f"/shadow-ai/casb/scans/{run.pk}/progress/", HTTP_HX_REQUEST="true")
    html = body(running)
    assert running.status_code == 200 and "every 1s" in html and "Checking pending invites" in html
    assert 'aria-valuenow="37"' in html and "progress-bar p30" in html
    ScanRun.objects.filter(pk=run.pk).update(status="succeeded", message="Checked 12 item(s).")
    done = client.get(f"/shadow-ai/casb/scans/{run.pk}/progress/", HTTP_HX_REQUEST="true")
    assert done.status_code == 286 and "every 1s" not in body(done) and "Checked 12 item(s)." in body(done)


def test_findings_list_filters_sorts_exports_and_acts(client_for, super_admin, auditor, openai_integration, scan):
    scan(openai_integration)
    client = client_for(auditor)
    page = body(client.get("/shadow-ai/casb/findings/"))
    types = re.findall(r'data-testid="finding-row" data-type="([^"]+)"', page)
    assert types[0] in ("openai.admin_key_not_rotated", "openai.project_key_not_rotated", "openai.gpt_custom_actions",
                        "openai.gpt_public_store", "openai.gpt_public_link", "openai.high_privilege_invite")
    assert "openai.stale_pending_invite" == types[-1] or "openai.admin_key_without_expiry" in types[-2:]
    medium = body(client.get("/shadow-ai/casb/findings/?severity=2"))
    assert set(re.findall(r'data-type="([^"]+)"', medium)) == {
        "openai.unused_admin_key", "openai.unused_project_key", "openai.inactive_user", "openai.gpt_code_interpreter",
        "openai.gpt_web_browsing"}
    searched = body(client.get("/shadow-ai/casb/findings/?q=mallory"))  # an asset, not a title
    assert re.findall(r'data-type="([^"]+)"', searched) == ["openai.high_privilege_invite"]
    by_title = body(client.get("/shadow-ai/casb/findings/?q=invite&sort=title", HTTP_HX_REQUEST="true"))
    assert "<html" not in by_title and re.findall(r'data-type="([^"]+)"', by_title) == [
        "openai.high_privilege_invite", "openai.stale_pending_invite"]
    exported = client.get("/shadow-ai/casb/findings/export/?severity=3")
    rows = list(csv.reader(io.StringIO(body(exported))))
    assert rows[0][:3] == ["Finding", "Vendor", "Severity"] and {r[2] for r in rows[1:]} == {"High"}
    assert len(rows) - 1 == Finding.objects.filter(severity=3).count()

    finding = Finding.objects.get(type_key="openai.stale_pending_invite")
    detail = body(client.get(f"/shadow-ai/casb/findings/{finding.pk}/"))
    assert "fay@acme.example" in detail and "Revoke invites that were never accepted" in detail
    assert 'data-testid="ignore-form"' not in detail  # auditors read only
    assert client.post(f"/shadow-ai/casb/findings/{finding.pk}/status/", {"status": "ignored"}).status_code == 403

    admin = client_for(super_admin)
    refused = admin.post(f"/shadow-ai/casb/findings/{finding.pk}/status/", {"status": "ignored", "reason": ""},
                         follow=True)
    assert "Say why" in body(refused)
    admin.post(f"/shadow-ai/casb/findings/{finding.pk}/status/", {"status": "ignored", "reason": "Contractors"})
    finding.refresh_from_db()
    assert finding.status == "ignored" and finding.status_reason == "Contractors"
    ignored = body(admin.get("/shadow-ai/casb/findings/?status=ignored"))
    assert re.findall(r'data-type="([^"]+)"', ignored) == ["openai.stale_pending_invite"]
    admin.post(f"/shadow-ai/casb/findings/{finding.pk}/severity/", {"severity": "3", "reason": "Audit wants it"})
    finding.refresh_from_db()
    assert finding.severity == 3 and finding.severity_changed

    instance = FindingInstance.objects.get(key="invite:invite-old")
    admin.post(f"/shadow-ai/casb/instances/{instance.pk}/status/", {"status": "hidden"})
    instance.refresh_from_db()
    finding.refresh_from_db()
    assert instance.status == "hidden" and finding.hidden_instances == 1 and finding.active_instances == 0
    hidden_tab = body(admin.get(f"/shadow-ai/casb/findings/{finding.pk}/?show=hidden"))
    assert 'data-key="invite:invite-old"' in hidden_tab
    assert 'data-key="invite:invite-old"' not in body(admin.get(f"/shadow-ai/casb/findings/{finding.pk}/"))
    exported = admin.get(f"/shadow-ai/casb/findings/{finding.pk}/export/?show=hidden")
    exported = list(csv.reader(io.StringIO(body(exported))))
    assert exported[1][1] == "fay@acme.example" and exported[1][4] == "Hidden"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"casb.finding.ignored", "casb.finding.severity_changed", "casb.instance.hidden"} <= actions


def test_a_finding_becomes_a_gateway_block_policy_in_one_click(client_for, super_admin, make_integration,
                                                               vendor_server, scan, library):
    google.serve(vendor_server)
    integration = make_integration("google_workspace", credentials={
        "service_account_json": google.service_account_json()}, config={"admin_email": google.ADMIN})
    scan(integration)
    GatewayPolicy.objects.create(name="Allow approved AI", position=1, action="allow",
                                 conditions=[{"type": "gen_ai", "value": True}])
    finding = Finding.objects.get(type_key="google_workspace.app_drive")
    client = client_for(super_admin)
    page = body(client.get(f"/shadow-ai/casb/findings/{finding.pk}/"))
    assert 'data-testid="block"' in page and "ChatGPT in the library" in page
    blocked = client.post(f"/shadow-ai/casb/findings/{finding.pk}/block/")
    policy = GatewayPolicy.objects.get(name="Block ChatGPT (CASB)")
    assert blocked["Location"] == f"/shadow-ai/policies/{policy.pk}/"
    assert policy.action == "block" and policy.conditions == [
        {"type": "application", "operator": "in", "values": ["chatgpt"]}]
    assert list(GatewayPolicy.objects.order_by("position").values_list("name", flat=True)) == [
        "Block ChatGPT (CASB)", "Allow approved AI"]
    assert AuditEvent.objects.filter(action="casb.finding.blocked", object_id=str(finding.pk)).exists()
    again = client.post(f"/shadow-ai/casb/findings/{finding.pk}/block/", follow=True)
    assert "already exists" in body(again)
    sign_in = Finding.objects.get(type_key="google_workspace.user_2fa_disabled")
    no_app = client.post(f"/shadow-ai/casb/findings/{sign_in.pk}/block/", follow=True)
    assert "nothing the gateway could recognise" in body(no_app)


def test_the_library_shows_what_casb_discovered(client_for, auditor, make_integration, vendor_server, scan, library):
    google.serve(vendor_server)
    integration = make_integration("google_workspace", credentials={
        "service_account_json": google.service_account_json()}, config={"admin_email": google.ADMIN})
    scan(integration)
    client = client_for(auditor)
    found = body(client.get("/shadow-ai/library/?discovered=yes"))
    assert re.findall(r'data-testid="library-row" data-key="([^"]+)"', found) == ["chatgpt"]
    assert "Discovered by CASB" in found
    from shadow_ai.models import Application

    chatgpt = Application.objects.get(key="chatgpt")
    detail = body(client.get(f"/shadow-ai/library/{chatgpt.pk}/"))
    assert 'data-testid="casb-discoveries"' in detail and integration.name in detail
    discovered = body(client.get("/shadow-ai/casb/discovered/?ai=yes"))
    assert "ChatGPT" in discovered and "Notetaker AI" in discovered and "Puzzle Night" not in discovered
    assert "its addresses are unknown" in discovered


def test_lists_do_not_grow_queries_with_rows(client_for, auditor, openai_integration, scan,
                                             django_assert_max_num_queries):
    scan(openai_integration)
    client = client_for(auditor)
    finding = Finding.objects.get(type_key="openai.stale_pending_invite")
    with django_assert_max_num_queries(20):
        client.get("/shadow-ai/casb/findings/?per_page=100&state=all")
    with django_assert_max_num_queries(20):
        client.get("/shadow-ai/casb/integrations/")
    with django_assert_max_num_queries(25):
        client.get(f"/shadow-ai/casb/findings/{finding.pk}/")
    with django_assert_max_num_queries(25):
        client.get(f"/shadow-ai/casb/integrations/{openai_integration.pk}/")


def test_empty_states_say_what_to_do(client_for, auditor):
    client = client_for(auditor)
    assert "No integrations yet" in body(client.get("/shadow-ai/casb/integrations/"))
    assert "connect an integration first" in body(client.get("/shadow-ai/casb/findings/"))
    assert "No discovered apps yet" in body(client.get("/shadow-ai/casb/discovered/"))
