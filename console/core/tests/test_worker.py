"""Jobs run by a separate worker process through the real Redis broker."""

import os
import time

import pytest

from conftest import mark_mfa_verified
from console.core.models import Heartbeat, WorkerCheck

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_a_task_queued_by_the_web_process_is_run_by_a_separate_worker(
    client, super_admin, celery_worker_process
):
    from console.celery import app

    assert app.conf.broker_url.startswith("redis://")
    client.force_login(super_admin, backend="django.contrib.auth.backends.ModelBackend")
    mark_mfa_verified(client, super_admin)
    page = client.post("/system/health/worker-check/", HTTP_HX_REQUEST="true")
    assert b"waiting for a worker" in page.content
    check = WorkerCheck.objects.get()
    assert check.requested_from_pid == os.getpid()

    done = wait_for(lambda: WorkerCheck.objects.filter(pk=check.pk, status="done").first())
    assert done.worker_pid == celery_worker_process["pid"] != os.getpid()
    assert done.worker_hostname.startswith(celery_worker_process["queue"])

    # The page's poll shows the result and tells htmx to stop polling (HTTP 286).
    poll = client.get(f"/system/health/worker-check/{check.pk}/", HTTP_HX_REQUEST="true")
    assert poll.status_code == 286
    assert str(celery_worker_process["pid"]).encode() in poll.content


def test_running_the_same_task_twice_changes_nothing_the_second_time(super_admin, celery_worker_process):
    from console.core.services import worker_check_request
    from console.core.tasks import worker_check_run

    check = worker_check_request(actor=super_admin)
    first = wait_for(lambda: WorkerCheck.objects.filter(pk=check.pk, status="done").first())
    redelivery = worker_check_run.delay(check.pk)
    # The worker's log says when it has run the redelivered task (it keeps no result).
    wait_for(lambda: f"[{redelivery.id}] succeeded".encode() in celery_worker_process["log"].read_bytes())
    again = WorkerCheck.objects.get(pk=check.pk)
    assert again.completed_at == first.completed_at


def test_the_heartbeat_shows_the_worker_on_the_health_page(client, auditor, celery_worker_process):
    from console.core.tasks import heartbeat

    heartbeat.delay()
    wait_for(lambda: Heartbeat.objects.filter(key__startswith=f"worker:{celery_worker_process['queue']}").exists())
    # Publishing the heartbeat from this process stands in for the beat scheduler.
    assert Heartbeat.objects.filter(key="beat").exists()
    client.force_login(auditor, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/system/health/").content.decode()
    assert "1 worker(s) sent a heartbeat recently" in page
    assert celery_worker_process["queue"] in page
