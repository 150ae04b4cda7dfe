"""The scanner, run in-process against the loopback vendor: upserts by stable keys, resolution
on complete scans only, error handling, leases, checkpoints and resuming."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.audit.models import AuditEvent
from shadow_ai.casb import scanner
from shadow_ai.casb.connectors.openai import mapping
from shadow_ai.casb.connectors.openai.tests import payloads
from shadow_ai.casb.models import Finding, FindingInstance, Integration, ScanRun
from shadow_ai.casb.testing import Response, after_cursor_pages

pytestmark = pytest.mark.django_db


def open_keys(type_key: str) -> set[str]:
    return set(FindingInstance.objects.filter(finding__type_key=type_key, resolved_at__isnull=True)
               .values_list("key", flat=True))


def test_a_scan_stores_each_finding_once_and_a_rerun_updates_instead_of_duplicating(openai_integration, scan):
    first = scan(openai_integration)
    assert first.status == ScanRun.Status.SUCCEEDED, first.messages
    assert first.steps_total == 10 and first.percent == 100  # 3 DLP file steps, skipped without profiles
    count = FindingInstance.objects.count()
    assert count == first.instances_new == first.observations
    assert open_keys(mapping.ADMIN_NOT_ROTATED.key) == {"admin_key:key_old"}
    finding = Finding.objects.get(type_key=mapping.GPT_ACTIONS.key)
    assert finding.title == "OpenAI: GPT with Custom Actions enabled" and finding.severity == 3
    assert finding.active_instances == 1 and finding.resolved_at is None
    instance = finding.instances.get()
    first_seen = instance.first_seen_at

    second = scan(openai_integration)
    assert second.status == ScanRun.Status.SUCCEEDED
    assert FindingInstance.objects.count() == count and Finding.objects.filter(
        integration=openai_integration).count() == len({i.finding_id for i in FindingInstance.objects.all()})
    assert second.instances_new == 0 and second.instances_resolved == 0
    instance.refresh_from_db()
    assert instance.first_seen_at == first_seen and instance.last_seen_run == second.pk
    openai_integration.refresh_from_db()
    assert openai_integration.last_success_at and openai_integration.next_scan_at > timezone.now()


def test_what_is_no_longer_reported_resolves_on_the_next_complete_scan(openai_integration, scan, vendor_server):
    scan(openai_integration)
    invites = [i for i in payloads.invites() if i["id"] != "invite-owner"]
    vendor_server.route("GET", "/v1/organization/invites", after_cursor_pages(invites, size=2))
    second = scan(openai_integration)
    assert second.instances_resolved == 1
    resolved = FindingInstance.objects.get(key="invite:invite-owner")
    assert resolved.resolved_at is not None
    finding = resolved.finding
    assert finding.resolved_at is not None and finding.active_instances == 0
    assert open_keys(mapping.STALE_INVITE.key) == {"invite:invite-old"}
    vendor_server.route("GET", "/v1/organization/invites", after_cursor_pages(payloads.invites(), size=2))
    third = scan(openai_integration)  # it comes back: the same instance reopens, not a new one
    resolved.refresh_from_db()
    assert resolved.resolved_at is None and third.instances_new == 0
    assert FindingInstance.objects.filter(key="invite:invite-owner").count() == 1


def test_a_step_that_could_not_run_leaves_its_findings_as_they_were(openai_integration, scan, vendor_server):
    scan(openai_integration)
    assert open_keys(mapping.INACTIVE_USER.key) == {"user:user_dan"}
    vendor_server.route("GET", "/v1/organization/audit_logs", Response(400, {"error": {
        "message": "Audit logging is not enabled for this organization.", "type": "invalid_request_error"}}))
    second = scan(openai_integration)
    assert second.status == ScanRun.Status.SUCCEEDED
    assert open_keys(mapping.INACTIVE_USER.key) == {"user:user_dan"}
    assert sorted(second.state["skipped_steps"]) == ["dlp_conversation_files", "dlp_gpt_files", "dlp_project_files",
                                                     "logins", "users"]  # no DLP profiles: file scans skip
    assert any("Audit logging is not enabled" in m["text"] for m in second.messages)
    assert "skipped" in second.message


def test_refused_credentials_fail_the_run_and_flag_the_integration(openai_integration, scan, vendor_server):
    vendor_server.route("GET", "/v1/organization/invites", Response(401, {"error": {
        "message": "Incorrect API key provided", "code": "invalid_api_key"}}))
    run = scan(openai_integration)
    assert run.status == ScanRun.Status.FAILED and run.outcome.status == "failed"
    assert "refused the credentials" in run.message and "Incorrect API key provided" in run.message
    openai_integration.refresh_from_db()
    assert openai_integration.status == Integration.Status.NEEDS_ATTENTION
    assert "Incorrect API key" in openai_integration.attention_message
    event = AuditEvent.objects.get(action="casb.integration.needs_attention")
    assert event.actor_email == "" and event.object_id == str(openai_integration.pk)
    # Nothing was resolved by the failed run: the findings of the steps before it stand.
    assert FindingInstance.objects.filter(resolved_at__isnull=False).count() == 0
    vendor_server.route("GET", "/v1/organization/invites", after_cursor_pages(payloads.invites(), size=2))
    assert scan(openai_integration).status == ScanRun.Status.SUCCEEDED
    openai_integration.refresh_from_db()
    assert openai_integration.status == Integration.Status.ACTIVE and not openai_integration.attention_message
    assert AuditEvent.objects.filter(action="casb.integration.recovered").exists()


def test_a_transient_failure_keeps_the_place_and_a_later_attempt_finishes(openai_integration, vendor_server,
                                                                          settings):
    settings.CASB_SCAN_MAX_ATTEMPTS = 3
    vendor_server.route("GET", "/v1/organization/projects", Response(503, {"error": {
        "message": "The server is overloaded or not ready yet.", "type": "server_error"}}))
    run = ScanRun.objects.create(integration=openai_integration)
    outcome = scanner.execute(run.pk, owner="w1", sleep=lambda s: None)
    run.refresh_from_db()
    assert outcome.status == "retry" and outcome.retry_in >= 1
    assert run.status == ScanRun.Status.RUNNING and run.step_index == 4 and run.transient_failures == 1
    assert run.lease_owner == "waiting"
    assert scanner.execute(run.pk, owner="w2").status == "busy"  # a copy of the task waits its turn
    kept = FindingInstance.objects.count()
    assert kept > 0
    vendor_server.route("GET", "/v1/organization/projects", after_cursor_pages(payloads.projects(), size=2))
    ScanRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert scanner.execute(run.pk, owner="w3", sleep=lambda s: None).status == "finished"
    run.refresh_from_db()
    assert run.status == ScanRun.Status.SUCCEEDED and run.executions == 2
    assert any("Trying again" in m["text"] for m in run.messages)


def test_transient_failures_give_up_after_the_set_number_of_attempts(openai_integration, vendor_server, settings):
    settings.CASB_SCAN_MAX_ATTEMPTS = 2
    vendor_server.route("GET", "/v1/organization/audit_logs", Response(500, {"error": {"message": "boom"}}))
    run = ScanRun.objects.create(integration=openai_integration)
    assert scanner.execute(run.pk, owner="w", sleep=lambda s: None).status == "retry"
    ScanRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert scanner.execute(run.pk, owner="w", sleep=lambda s: None).status == "failed"
    run.refresh_from_db()
    assert run.status == ScanRun.Status.FAILED and run.message.startswith("Gave up after 2 attempts")
    openai_integration.refresh_from_db()
    assert openai_integration.status == Integration.Status.ACTIVE  # passing trouble needs no admin


class WorkerDied(BaseException):
    """Stands for SIGKILL: nothing in the scanner catches it."""


def test_a_run_whose_worker_died_is_finished_by_another_with_nothing_doubled(openai_integration, scan, monkeypatch,
                                                                             settings):
    clean = scan(openai_integration)
    expected = {(i.finding.type_key, i.key) for i in FindingInstance.objects.select_related("finding")}
    FindingInstance.objects.all().delete()
    Finding.objects.all().delete()

    real_store, calls = scanner.store, []

    def dying_store(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise WorkerDied
        return real_store(*args, **kwargs)

    monkeypatch.setattr(scanner, "store", dying_store)
    run = ScanRun.objects.create(integration=openai_integration)
    with pytest.raises(WorkerDied):
        scanner.execute(run.pk, owner="doomed", sleep=lambda s: None)
    run.refresh_from_db()
    assert run.status == ScanRun.Status.RUNNING and run.lease_owner == "doomed" and 0 < run.pages < clean.pages
    assert scanner.execute(run.pk, owner="second").status == "busy"  # its lease still runs
    monkeypatch.setattr(scanner, "store", real_store)
    ScanRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert scanner.execute(run.pk, owner="second", sleep=lambda s: None).status == "finished"
    run.refresh_from_db()
    assert run.status == ScanRun.Status.SUCCEEDED
    assert {(i.finding.type_key, i.key) for i in FindingInstance.objects.select_related("finding")} == expected
    assert run.pages == clean.pages and run.observations == clean.observations
    assert run.instances_new == len(expected)
    assert any("stopped renewing its lease" in m["text"] for m in run.messages)


def test_a_worker_that_lost_its_lease_writes_nothing_more(openai_integration):
    run = ScanRun.objects.create(integration=openai_integration)
    assert isinstance(scanner.claim(run.pk, "first"), ScanRun)
    assert ScanRun.renew(run.pk, "first")
    ScanRun.objects.filter(pk=run.pk).update(lease_owner="someone-else")
    assert not ScanRun.renew(run.pk, "first")


def test_a_long_scan_gives_its_worker_back_and_continues(openai_integration, settings):
    settings.CASB_SCAN_SLICE_SECONDS = 0
    run = ScanRun.objects.create(integration=openai_integration)
    slices = 0
    while True:
        outcome = scanner.execute(run.pk, owner="w", sleep=lambda s: None)
        slices += 1
        if outcome.status != "continue":
            break
        assert outcome.retry_in == 0.0
    run.refresh_from_db()
    assert outcome.status == "finished" and run.status == ScanRun.Status.SUCCEEDED
    assert slices == run.pages  # one page per slice


def test_paused_or_demo_integrations_are_not_scanned(openai_integration):
    run = ScanRun.objects.create(integration=openai_integration)
    Integration.objects.filter(pk=openai_integration.pk).update(status=Integration.Status.PAUSED)
    assert scanner.execute(run.pk, owner="w").status == "gone"
    run.refresh_from_db()
    assert run.status == ScanRun.Status.CANCELLED and "paused" in run.message
    assert FindingInstance.objects.count() == 0


def test_ignored_findings_and_hidden_instances_stay_so_across_scans(openai_integration, scan, super_admin):
    from shadow_ai.casb import services

    scan(openai_integration)
    finding = Finding.objects.get(type_key=mapping.STALE_INVITE.key)
    services.finding_set_status(actor=super_admin, finding=finding, status="ignored", reason="Contractors take time")
    instance = FindingInstance.objects.get(key="admin_key:key_idle")
    services.instance_set_status(actor=super_admin, instance=instance, status="hidden")
    scan(openai_integration)
    finding.refresh_from_db()
    instance.refresh_from_db()
    assert finding.status == Finding.Status.IGNORED and finding.active_instances == 1
    assert instance.status == FindingInstance.Status.HIDDEN and instance.resolved_at is None
    assert instance.finding.hidden_instances == 1 and instance.finding.active_instances == 0
