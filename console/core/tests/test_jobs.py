"""The one job model: claim / renew / release on a lease, the heartbeat that renews it from its
own thread and connection, the sweep's view of stalled rows, and the polling helper. Exercised
through a real ``JobRun`` (a full rescore's run) on the real database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from console.core import jobs
from risk.models import IngestBatch, RescoreRun, TelemetrySource

pytestmark = pytest.mark.django_db


def _run(**fields) -> RescoreRun:
    return RescoreRun.objects.create(**fields)


def test_a_claim_takes_a_queued_run_and_a_second_claim_finds_the_live_lease():
    run = _run()
    first = jobs.new_owner()
    claimed = RescoreRun.claim(run.pk, owner=first)
    assert isinstance(claimed, jobs.Claim) and claimed.owner == first and claimed.taken_over_from == ""
    run.refresh_from_db()
    assert (run.status, run.lease_owner) == ("running", first) and run.started_at is not None
    assert run.lease_expires_at > timezone.now() + timedelta(seconds=25)  # JOB_LEASE_SECONDS, 30
    busy = RescoreRun.claim(run.pk, owner="someone-else")
    assert isinstance(busy, float) and 25 < busy <= 30
    assert RescoreRun.objects.get(pk=run.pk).lease_owner == first


def test_an_expired_lease_is_taken_over_and_says_whose_it_was():
    run = _run(status="running", lease_owner="host-a:101:abc", lease_expires_at=timezone.now() - timedelta(seconds=1))
    claimed = RescoreRun.claim(run.pk, owner="host-b:202:def")
    assert isinstance(claimed, jobs.Claim) and claimed.taken_over_from == "host-a:101:abc"
    assert jobs.owner_worker(claimed.taken_over_from) == "host-a:101"
    assert RescoreRun.objects.get(pk=run.pk).lease_owner == "host-b:202:def"


def test_finished_or_missing_runs_are_not_claimed_and_prepare_can_decline():
    done = _run(status="done")
    assert RescoreRun.claim(done.pk) is None
    assert RescoreRun.claim(10**9) is None
    queued = _run()
    assert RescoreRun.claim(queued.pk, prepare=lambda obj, claim, now: None) is None
    assert RescoreRun.objects.get(pk=queued.pk).status == "queued"  # nothing saved


def test_renew_and_release_only_work_for_the_owner():
    run = _run()
    owner = RescoreRun.claim(run.pk).owner
    assert RescoreRun.renew(run.pk, owner) and not RescoreRun.renew(run.pk, "intruder")
    assert not RescoreRun.release(run.pk, "intruder", status="done")
    assert RescoreRun.release(run.pk, owner, status="done", finished_at=timezone.now())
    run.refresh_from_db()
    # The owner stays on record (who finished it); the lease is over.
    assert (run.status, run.lease_owner, run.lease_expires_at) == ("done", owner, None)
    assert not RescoreRun.renew(run.pk, owner)


def test_the_sweep_sees_expired_and_unclaimed_rows_but_never_a_live_lease():
    now = timezone.now()
    old = now - timedelta(hours=1)
    live = _run(status="running", lease_owner="alive", lease_expires_at=now + timedelta(seconds=30), created_at=old)
    expired = _run(status="running", lease_owner="dead", lease_expires_at=now - timedelta(seconds=1))
    lost_job = _run(created_at=old)
    fresh = _run()
    stalled = set(RescoreRun.objects.filter(RescoreRun.stalled(now=now, unclaimed_after=jobs.UNCLAIMED_AFTER))
                  .values_list("pk", flat=True))
    assert stalled == {expired.pk, lost_job.pk}
    assert not RescoreRun.requeue(live.pk, now=now, unclaimed_after=jobs.UNCLAIMED_AFTER)
    assert not RescoreRun.requeue(fresh.pk, now=now, unclaimed_after=jobs.UNCLAIMED_AFTER)
    assert RescoreRun.requeue(expired.pk, now=now, unclaimed_after=jobs.UNCLAIMED_AFTER)
    expired.refresh_from_db()
    assert (expired.status, expired.lease_owner) == ("queued", "dead")
    assert not RescoreRun.requeue(expired.pk, now=now, unclaimed_after=jobs.UNCLAIMED_AFTER)  # held for a while
    # Queued for a new worker: the hold is not a lease, the next worker takes it at once.
    claimed = RescoreRun.claim(expired.pk, owner="new")
    assert isinstance(claimed, jobs.Claim) and claimed.taken_over_from == "dead"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_renews_from_its_own_connection_and_notices_a_lost_lease(settings):
    settings.JOB_LEASE_SECONDS = 3
    run = _run()
    owner = RescoreRun.claim(run.pk).owner
    first = RescoreRun.objects.get(pk=run.pk).lease_expires_at
    before = _other_connections()  # background threads of earlier tests (the log writers) may hold some
    with jobs.LeaseHeartbeat(RescoreRun, run.pk, owner) as beat:
        assert beat.interval == 1.0
        deadline = time.monotonic() + 30
        while RescoreRun.objects.get(pk=run.pk).lease_expires_at == first:
            assert time.monotonic() < deadline, "the heartbeat never renewed the lease"
            time.sleep(0.05)
        beat.check()  # still ours
        RescoreRun.objects.filter(pk=run.pk).update(lease_owner="taken-over")
        while not beat.lost:
            assert time.monotonic() < deadline, "the heartbeat never noticed the lease was taken"
            time.sleep(0.05)
        with pytest.raises(jobs.LeaseLost):
            beat.check()
    assert not any(t.name.startswith("lease-") for t in threading.enumerate())
    # Its connection was closed with the thread: no connection it opened is left on the test database.
    assert _other_connections() <= before


def _other_connections() -> set[int]:
    """The backend pids of the other connections to the test database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
        return {row[0] for row in cursor.fetchall()}


def test_a_batch_uses_the_same_lease_with_its_own_statuses():
    sender = TelemetrySource.objects.create(name="Logpush", kind="gateway_http", prefix="abc", secret_hash="x")
    batch = IngestBatch.objects.create(source=sender, kind="gateway_http", payload=b"{}")
    claimed = IngestBatch.claim(batch.pk)
    batch.refresh_from_db()
    assert isinstance(claimed, jobs.Claim) and batch.status == "processing" and batch.lease_owner == claimed.owner


def test_render_poll_stops_polling_once_the_job_is_finished(settings):
    request = RequestFactory().get("/", HTTP_HX_REQUEST="true")
    request.htmx = True
    running = _run(status="running", chunks_total=4, chunks_done=1)
    answer = jobs.render_poll(request, "risk/_rescore.html", {"rescore": running}, job=running)
    assert answer.status_code == 200 and 'hx-trigger="every 1s"' in answer.content.decode()
    assert f"/risk/rescore/{running.pk}\"" in answer.content.decode()
    done = _run(status="done", chunks_total=4, chunks_done=4)
    answer = jobs.render_poll(request, "risk/_rescore.html", {"rescore": done}, job=done)
    assert answer.status_code == 286 and "hx-trigger" not in answer.content.decode()
    assert done.percent == 100 and running.percent == 25


@pytest.mark.parametrize("value", ["2", "3601"])
def test_a_bad_lease_setting_stops_start_up_with_its_name(value):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings_test", "JOB_LEASE_SECONDS": value},
    )
    assert result.returncode != 0 and "JOB_LEASE_SECONDS" in result.stderr
