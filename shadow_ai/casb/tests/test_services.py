"""CASB services: roles, validation, schedules and the dispatcher."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.core.errors import Conflict, PermissionRefused, ValidationFailed
from shadow_ai.casb import services, tasks
from shadow_ai.casb.connectors.openai.tests import payloads
from shadow_ai.casb.models import Integration, ScanRun
from shadow_ai.casb.testing import Response

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    sent: list[int] = []
    monkeypatch.setattr(tasks.run_scan, "delay", lambda run_id: sent.append(run_id))
    return sent


def test_scans_can_have_a_queue_of_their_own(monkeypatch, settings):
    sent = []
    monkeypatch.setattr(tasks.run_scan, "apply_async", lambda args, queue: sent.append((args, queue)))
    settings.CASB_QUEUE = "connectors"
    services.queue_scan(7)
    assert sent == [((7,), "connectors")]


def test_only_admins_write(make_user, openai_integration):
    auditor = make_user("auditor", email="a@corp.example")
    with pytest.raises(PermissionRefused):
        services.scan_start(actor=auditor, integration=openai_integration)
    with pytest.raises(PermissionRefused):
        services.integration_pause(actor=auditor, integration=openai_integration)
    with pytest.raises(PermissionRefused):
        services.connection_check(actor=auditor, vendor="openai", credentials={}, config={})


def test_one_scan_at_a_time_per_integration(super_admin, openai_integration):
    run, created = services.scan_start(actor=super_admin, integration=openai_integration)
    again, created_again = services.scan_start(actor=super_admin, integration=openai_integration)
    assert created and not created_again and again.pk == run.pk
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ScanRun.objects.create(integration=openai_integration, status="running")


def test_names_intervals_and_settings_are_checked(super_admin, openai_integration, vendor_server):
    with pytest.raises(Conflict, match="already exists"):
        services.integration_create(actor=super_admin, vendor="openai", name="openai (ACME)",
                                    credentials={"admin_api_key": "k"}, config={})
    with pytest.raises(ValidationFailed) as bad:
        services.integration_create(actor=super_admin, vendor="openai", name="Other", credentials={},
                                    config={})
    assert bad.value.field == "admin_api_key"
    with pytest.raises(ValidationFailed) as bad:
        services.integration_create(actor=super_admin, vendor="github", name="GH", credentials={"private_key": "x"},
                                    config={"organization": "acme", "app_id": "1", "installation_id": "2"})
    assert bad.value.field == "private_key"
    with pytest.raises(ValidationFailed) as bad:
        services.integration_update(actor=super_admin, integration=openai_integration, name="OpenAI (Acme)",
                                    config={"workspace_id": "ws-acme"}, scan_interval_hours=0,
                                    base_url=openai_integration.base_url)
    assert bad.value.field == "scan_interval_hours"
    with pytest.raises(ValidationFailed) as bad:
        services.integration_create(actor=super_admin, vendor="microsoft_365", name="M365",
                                    credentials={"client_secret": "s"},
                                    config={"tenant_id": "../../evil?x=", "client_id": "c"})
    assert bad.value.field == "tenant_id"


def test_changed_settings_are_tested_before_they_are_saved(super_admin, openai_integration, vendor_server):
    vendor_server.route("GET", "/v1/compliance/workspaces/ws-other/gpts", Response(404, {"error": {
        "message": "Workspace not found"}}))
    with pytest.raises(services.ConnectionProblem) as refused:
        services.integration_update(actor=super_admin, integration=openai_integration, name="OpenAI (Acme)",
                                    config={"workspace_id": "ws-other"}, base_url=openai_integration.base_url,
                                    scan_interval_hours=6)
    assert "Compliance API" in refused.value.message and any(not c.ok for c in refused.value.checks)
    openai_integration.refresh_from_db()
    assert openai_integration.config == {"workspace_id": "ws-acme"}
    services.integration_update(actor=super_admin, integration=openai_integration, name="OpenAI (renamed)",
                                config={"workspace_id": "ws-acme"}, base_url=openai_integration.base_url,
                                scan_interval_hours=3)
    openai_integration.refresh_from_db()
    assert openai_integration.name == "OpenAI (renamed)" and openai_integration.scan_interval_hours == 3


def test_the_dispatcher_starts_due_scans_and_picks_up_abandoned_runs(openai_integration, make_integration, queued):
    now = timezone.now()
    Integration.objects.filter(pk=openai_integration.pk).update(next_scan_at=now - timedelta(minutes=1))
    later = make_integration("openai", name="Not due", next_scan_at=now + timedelta(hours=1))
    paused = make_integration("openai", name="Paused", status="paused", next_scan_at=now - timedelta(hours=1))
    demo = make_integration("openai", name="Demo", is_demo=True, next_scan_at=now - timedelta(hours=1))
    started = services.scans_dispatch_due(now=now)
    assert len(started) == 1 and ScanRun.objects.get(pk=started[0]).integration_id == openai_integration.pk
    assert not ScanRun.objects.filter(integration__in=[later, paused, demo]).exists()
    openai_integration.refresh_from_db()
    assert openai_integration.next_scan_at > now
    assert services.scans_dispatch_due(now=now) == []  # already running: no second scan
    abandoned = ScanRun.objects.get(pk=started[0])
    ScanRun.objects.filter(pk=abandoned.pk).update(status="running", lease_owner="gone",
                                                   lease_expires_at=now - timedelta(hours=1))
    queued.clear()
    services.scans_dispatch_due(now=now)
    assert queued == [abandoned.pk]
    abandoned.refresh_from_db()
    assert abandoned.status == "queued" and abandoned.lease_owner == "gone"  # whose it was, for the next worker
    services.scans_dispatch_due(now=now)
    assert queued == [abandoned.pk]  # sent once, not again at every dispatch
    live = make_integration("openai", name="Live", next_scan_at=now + timedelta(hours=1))
    running = ScanRun.objects.create(integration=live, status="running", lease_owner="busy",
                                     lease_expires_at=now + timedelta(seconds=20))
    services.scans_dispatch_due(now=now)
    assert running.pk not in queued  # a live lease is never taken


def test_the_task_retries_when_told_to_wait(openai_integration, monkeypatch):
    from shadow_ai.casb import scanner

    run = ScanRun.objects.create(integration=openai_integration)
    monkeypatch.setattr(scanner, "execute", lambda run_id: scanner.Outcome("busy", retry_in=2.5))
    retried = []
    monkeypatch.setattr(tasks.run_scan, "retry", lambda **kw: retried.append(kw) or RuntimeError("retry"))
    with pytest.raises(RuntimeError):
        tasks.run_scan.run(run.pk)
    assert retried == [{"countdown": 2.5, "max_retries": None}]
    monkeypatch.setattr(scanner, "execute", lambda run_id: scanner.Outcome("finished"))
    assert tasks.run_scan.run(run.pk) == "finished"


def test_credentials_are_never_part_of_what_the_console_returns(super_admin, vendor_server):
    payloads.serve(vendor_server)
    integration, checks = services.integration_create(
        actor=super_admin, vendor="openai", name="OpenAI", credentials={"admin_api_key": payloads.ADMIN_KEY},
        config={}, base_url=vendor_server.url)
    assert all(c.ok for c in checks)
    assert payloads.ADMIN_KEY not in repr(integration.__dict__.get("config")) and payloads.ADMIN_KEY not in str(checks)
