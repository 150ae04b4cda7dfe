"""Choosing an integration's DLP profiles (connect form, edit page, service, audit), seeing them on
its page, DLP findings with their redacted samples, resolution when a file goes, and why a DLP
profile in use cannot be deleted."""

from __future__ import annotations

import pytest

from console.audit.models import AuditEvent
from console.core.errors import Conflict, PermissionRefused
from shadow_ai.casb import services
from shadow_ai.casb.connectors.openai import mapping
from shadow_ai.casb.connectors.openai.tests import payloads
from shadow_ai.casb.findings import Severity
from shadow_ai.casb.models import Finding, FindingInstance, Integration
from shadow_ai.dlp import services as dlp_services
from shadow_ai.dlp.models import DlpProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def financial():
    return DlpProfile.objects.get(name="Financial Information")


@pytest.fixture
def secrets():
    return DlpProfile.objects.get(name="Credentials and Secrets")


def edit(client, integration, profiles):
    return client.post(f"/shadow-ai/casb/integrations/{integration.pk}/edit/", {
        "name": integration.name, "workspace_id": "ws-acme", "organization_id": "", "scan_interval_hours": "24",
        "base_url": integration.base_url, "dlp_profiles": [p.pk for p in profiles]})


def test_the_connect_form_offers_the_profiles_and_keeps_the_choice(client_for, super_admin, vendor_server,
                                                                   financial):
    payloads.serve(vendor_server)
    client = client_for(super_admin)
    form = client.get("/shadow-ai/casb/integrations/new/openai/").content.decode()
    assert 'name="dlp_profiles"' in form and "Financial Information (predefined)" in form
    assert "Leave empty to not scan file contents" in form and 'href="/shadow-ai/dlp/profiles/"' in form
    created = client.post("/shadow-ai/casb/integrations/new/openai/", {
        "name": "OpenAI (Acme)", "admin_api_key": payloads.ADMIN_KEY, "workspace_id": "ws-acme",
        "scan_interval_hours": "6", "base_url": vendor_server.url, "dlp_profiles": [financial.pk]})
    integration = Integration.objects.get()
    assert created.status_code == 302 and list(integration.dlp_profiles.all()) == [financial]
    event = AuditEvent.objects.get(action="casb.integration.created")
    assert event.changes["dlp_profiles"] == {"old": None, "new": ["Financial Information"]}


def test_changing_the_profiles_is_audited_and_shown(client_for, super_admin, openai_integration, financial,
                                                    secrets):
    client = client_for(super_admin)
    assert edit(client, openai_integration, [financial, secrets]).status_code == 302
    event = AuditEvent.objects.get(action="casb.integration.dlp_profiles_changed")
    assert event.changes == {"dlp_profiles": {"old": [], "new": ["Credentials and Secrets", "Financial Information"]}}
    edit(client, openai_integration, [secrets])
    latest = AuditEvent.objects.filter(action="casb.integration.dlp_profiles_changed").latest("pk")
    assert latest.changes["dlp_profiles"] == {"old": ["Credentials and Secrets", "Financial Information"],
                                              "new": ["Credentials and Secrets"]}
    edit(client, openai_integration, [secrets])  # no change, no audit row
    assert AuditEvent.objects.filter(action="casb.integration.dlp_profiles_changed").count() == 2
    page = client.get(f"/shadow-ai/casb/integrations/{openai_integration.pk}/").content.decode()
    assert f'<a href="/shadow-ai/dlp/profiles/{secrets.pk}/">Credentials and Secrets</a>' in page
    form = client.get(f"/shadow-ai/casb/integrations/{openai_integration.pk}/edit/").content.decode()
    assert f'value="{secrets.pk}" data-testid="dlp-profiles" id="id_dlp_profiles_' in form
    assert form.count("checked") == 1


def test_only_admins_choose_profiles(client_for, auditor, openai_integration, financial):
    with pytest.raises(PermissionRefused):
        services.integration_set_dlp_profiles(actor=auditor, integration=openai_integration,
                                              dlp_profiles=[financial.pk])
    assert edit(client_for(auditor), openai_integration, [financial]).status_code == 403
    assert not openai_integration.dlp_profiles.exists()
    page = client_for(auditor).get(f"/shadow-ai/casb/integrations/{openai_integration.pk}/").content.decode()
    assert "file contents are not scanned" in page


def test_a_dlp_finding_shows_its_redacted_samples_and_resolves_when_the_file_goes(
        client_for, auditor, super_admin, openai_integration, financial, scan, vendor_server, settings):
    settings.CASB_DLP_MAX_BYTES = 4096
    services.integration_set_dlp_profiles(actor=super_admin, integration=openai_integration,
                                          dlp_profiles=[financial.pk])
    run = scan(openai_integration)
    assert run.status == "succeeded", run.messages
    finding = Finding.objects.get(integration=openai_integration, type_key=mapping.DLP_GPT.key)
    assert finding.title == "OpenAI: File in ChatGPT GPT with DLP Profile match" and finding.severity == Severity.HIGH
    page = client_for(auditor).get(f"/shadow-ai/casb/findings/{finding.pk}/").content.decode()
    assert 'data-testid="dlp-samples"' in page and "customers.csv" in page
    assert "Financial Information › Visa Card Number" in page
    assert "XXXX XXXX XXXX XXXX" in page and "Ada Lovelace" in page and payloads.CARD not in page
    assert "DLP profiles</b>: Financial Information" in page

    # The GPT loses its file: the next complete scan resolves the instance (and so the finding).
    without = payloads.gpts()
    for gpt in without:
        gpt["latest_config"]["data"][0]["files"]["data"] = []
    vendor_server.route("GET", "/v1/compliance/workspaces/ws-acme/gpts",
                        {"object": "list", "data": without, "has_more": False, "last_id": without[-1]["id"]})
    scan(openai_integration)
    instance = FindingInstance.objects.get(finding=finding)
    assert instance.resolved_at is not None
    finding.refresh_from_db()
    assert finding.resolved_at is not None
    # Conversation uploads were still there, so that finding stays open.
    still = Finding.objects.get(integration=openai_integration, type_key=mapping.DLP_CONVERSATION.key)
    assert still.resolved_at is None


def test_without_profiles_a_scan_resolves_no_dlp_finding(super_admin, openai_integration, financial, scan,
                                                         settings):
    settings.CASB_DLP_MAX_BYTES = 4096
    services.integration_set_dlp_profiles(actor=super_admin, integration=openai_integration,
                                          dlp_profiles=[financial.pk])
    scan(openai_integration)
    services.integration_set_dlp_profiles(actor=super_admin, integration=openai_integration, dlp_profiles=[])
    run = scan(openai_integration)
    assert any("choose DLP profiles" in m["text"] for m in run.messages)
    open_ = FindingInstance.objects.filter(finding__type_key__in=mapping.DLP_TYPES, resolved_at__isnull=True)
    assert open_.count() == 2  # the GPT file and the conversation upload stay as they were


def test_a_dlp_profile_in_use_cannot_be_deleted(super_admin, openai_integration, client_for):
    profile = dlp_services.profile_create(actor=super_admin, name="Project Falcon")
    services.integration_set_dlp_profiles(actor=super_admin, integration=openai_integration,
                                          dlp_profiles=[profile.pk])
    with pytest.raises(Conflict, match="used by the CASB integration OpenAI \\(Acme\\): remove it there first"):
        dlp_services.profile_delete(actor=super_admin, profile=profile)
    response = client_for(super_admin).post(f"/shadow-ai/dlp/profiles/{profile.pk}/delete/", follow=True)
    assert "remove it there first" in response.content.decode() and DlpProfile.objects.filter(pk=profile.pk).exists()
    services.integration_set_dlp_profiles(actor=super_admin, integration=openai_integration, dlp_profiles=[])
    dlp_services.profile_delete(actor=super_admin, profile=profile)
    assert not DlpProfile.objects.filter(pk=profile.pk).exists()
