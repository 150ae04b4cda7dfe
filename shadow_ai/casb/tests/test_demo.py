"""The demo CASB data: loaded by seed_demo without network, clearly labelled, idempotent."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from shadow_ai.casb.models import DiscoveredApp, Finding, FindingInstance, Integration, ScanRun

pytestmark = pytest.mark.django_db


def state() -> tuple:
    return (
        sorted(Integration.objects.values_list("name", "vendor", "is_demo", "status")),
        sorted(Finding.objects.values_list("integration__name", "type_key", "severity", "status",
                                           "active_instances")),
        sorted(FindingInstance.objects.values_list("finding__type_key", "key", "application__key")),
        sorted(DiscoveredApp.objects.values_list("name", "application__key", "user_count")),
    )


def test_seed_demo_makes_two_labelled_integrations_with_findings_idempotently(capsys, client_for, auditor):
    call_command("seed_demo", "--users", "30")
    assert "CASB: 2 demo integrations" in capsys.readouterr().out
    first = state()
    assert all(i.is_demo for i in Integration.objects.all()) and Integration.objects.count() == 2
    assert Finding.objects.get(type_key="google_workspace.admin_2fa_disabled").severity == 4
    dlp = FindingInstance.objects.get(finding__type_key="google_workspace.file_public_edit_dlp")
    assert dlp.asset == "Sales pipeline Q3" and dlp.details["dlp_samples"][0]["match"] == "XXXX XXXX XXXX XXXX"
    assert Finding.objects.get(type_key="openai.stale_pending_invite").status == "ignored"
    assert DiscoveredApp.objects.get(name="ChatGPT").application.key == "chatgpt"
    assert not ScanRun.objects.exists()
    call_command("seed_demo", "--users", "30")
    assert state() == first

    client = client_for(auditor)
    demo = Integration.objects.get(name="Google Workspace (demo)")
    page = client.get(f"/shadow-ai/casb/integrations/{demo.pk}/").content.decode()
    assert 'data-testid="demo-note"' in page and "Demo integrations are never scanned." in page
    assert 'class="badge badge-demo"' in client.get("/shadow-ai/casb/integrations/").content.decode()


def test_demo_integrations_refuse_scans(super_admin):
    from console.core.errors import Conflict
    from shadow_ai.casb import services
    from shadow_ai.casb.demo import seed_casb_demo

    seed_casb_demo()
    with pytest.raises(Conflict, match="demo integration"):
        services.scan_start(actor=super_admin, integration=Integration.objects.get(name="OpenAI (demo)"))
