"""Scans as real Celery jobs: a worker process on Redis runs the scan against the loopback vendor,
the page shows its progress while it runs, and a worker killed mid-scan is replaced by another
that finishes the same run with nothing lost and nothing doubled."""

from __future__ import annotations

import signal
import time

import pytest

from shadow_ai.casb import services
from shadow_ai.casb.connectors.openai.tests import payloads
from shadow_ai.casb.models import Finding, FindingInstance, ScanRun
from shadow_ai.casb.testing import collect

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for(condition, *, timeout: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def expected_instances(make_ctx) -> set[tuple[str, str]]:
    connector, ctx = make_ctx("openai", credentials={"admin_api_key": payloads.ADMIN_KEY},
                              config={"workspace_id": "ws-acme"})
    return {(o.type_key, o.key) for o in collect(connector, ctx).observations}


def test_a_scan_killed_mid_way_is_finished_by_another_worker_without_duplicates(
    celery_workers, vendor_server, make_integration, make_ctx, super_admin, client_for, auditor,
):
    payloads.serve(vendor_server, page_size=1)
    expected = expected_instances(make_ctx)
    vendor_server.requests.clear()
    vendor_server.delay = 0.25  # a slow vendor: the kill lands mid-scan
    integration = make_integration("openai", config={"workspace_id": "ws-acme"}, name="OpenAI (slow)")
    first = celery_workers.start(CELERY_VISIBILITY_TIMEOUT="2", JOB_LEASE_SECONDS="3")
    run, created = services.scan_start(actor=super_admin, integration=integration)
    assert created

    def some_pages():
        current = ScanRun.objects.get(pk=run.pk)
        return current if current.status == ScanRun.Status.RUNNING and current.pages >= 3 else None

    running = wait_for(some_pages, timeout=30, what="the first worker to read some pages")
    progress = client_for(auditor).get(f"/shadow-ai/casb/scans/{run.pk}/progress/", HTTP_HX_REQUEST="true")
    html = progress.content.decode()
    assert progress.status_code == 200 and "every 1s" in html and f"of {running.steps_total}" in html
    assert 0 < running.percent < 100

    first["process"].send_signal(signal.SIGKILL)
    first["process"].wait()
    killed = ScanRun.objects.get(pk=run.pk)
    assert killed.status == ScanRun.Status.RUNNING and killed.step_index < killed.steps_total, \
        "the scan finished before the worker could be killed"
    stored_when_killed = FindingInstance.objects.count()

    # Redis hands an unacknowledged task to a worker that starts polling once the task is older
    # than the visibility timeout (later sweeps come only every ~100 s): let it age first.
    time.sleep(2.5)
    celery_workers.start(CELERY_VISIBILITY_TIMEOUT="2", JOB_LEASE_SECONDS="3")
    done = wait_for(lambda: ScanRun.objects.filter(pk=run.pk).exclude(status__in=ScanRun.ACTIVE).first(),
                    timeout=90, what="the second worker to finish the scan", every=0.2)
    assert done.status == ScanRun.Status.SUCCEEDED, done.messages
    stored = {(i.finding.type_key, i.key) for i in FindingInstance.objects.select_related("finding")}
    assert stored == expected
    assert FindingInstance.objects.count() == len(expected) >= stored_when_killed
    assert Finding.objects.count() == len({t for t, _ in expected})
    assert done.instances_new == len(expected) and done.observations == len(expected)
    assert done.executions >= 2
    assert any("stopped renewing its lease" in m["text"] for m in done.messages)
    # Every page was asked for at least once and no page more than twice (the one in flight).
    pages = [(r.path, r.arg("after")) for r in vendor_server.requests if r.method == "GET"]
    assert max(pages.count(p) for p in set(pages)) <= 2
