"""Stored telemetry always reaches detection (the pending-detection outbox and its sweep), batch
records never stay queued, counters stay truthful across redelivery, and ingest and scoring run
on queues of their own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import OperationalError
from django.utils import timezone

from risk.ingest import storage
from risk.models import GatewayHttpEvent, IngestBatch, PendingDetection, RescoreRun, RiskEvent, TelemetrySource
from risk.services import batches, detection, queueing, scores
from risk.tests.factories import http_row, ndjson

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
URL = "/api/v1/telemetry/"
ROOT = Path(__file__).resolve().parents[2]


def _post(client, kind, body, token):
    return client.post(URL + kind, body, content_type="application/x-ndjson", HTTP_AUTHORIZATION=f"Bearer {token}")


def _malicious(email: str, count: int, prefix: str = "r") -> list[dict]:
    return [http_row(email, T0 + timedelta(seconds=i), host="files.example", request_id=f"{prefix}{i}",
                     BlockedFileReason="malware") for i in range(count)]


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture
def closed_broker(monkeypatch):
    """Point the Celery app at a port nobody listens on; ``restore()`` brings the broker back."""
    from console.celery import app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    previous = app.conf.broker_write_url

    def point(url: str) -> None:
        app.conf.broker_url = app.conf.broker_write_url = url
        app._pool = None
        app.amqp._producer_pool = None

    point(f"redis://127.0.0.1:{port}/1")

    class Broker:
        @staticmethod
        def restore() -> None:
            point(previous)

    yield Broker
    point(previous)


def test_scoring_queued_while_the_broker_is_unreachable_is_drained_by_the_sweep(
        client, employee, source, enable, closed_broker, celery_workers):
    enable("malicious_file")
    sender, token = source("gateway_http")
    answer = _post(client, "gateway_http", ndjson(_malicious(employee.email, 200)), token)
    # Stored and answered: the rows and their pending detection committed together.
    assert answer.status_code == 200, answer.content
    assert (answer.json()["status"], answer.json()["stored"]) == ("done", 200)
    pending = PendingDetection.objects.get()
    assert sorted(pending.event_ids) == sorted(GatewayHttpEvent.objects.values_list("pk", flat=True))
    assert pending.queued_at is None  # the publish failed: the next sweep takes it
    assert not RiskEvent.objects.exists()

    closed_broker.restore()
    celery_workers.start()
    from risk import tasks

    tasks.sweep_detection.delay()  # what beat sends every minute
    _wait(lambda: not PendingDetection.objects.exists(), 60, "the sweep never drained the pending detection")
    assert RiskEvent.objects.filter(behaviour="malicious_file").count() == 200
    sender.refresh_from_db()
    assert sender.events_accepted == 200


def test_a_large_batch_taken_while_the_broker_is_down_is_stored_by_the_requeue_sweep(
        client, employee, source, settings, closed_broker):
    settings.RISK_INGEST_SYNC_MAX_BYTES = 100
    _, token = source("gateway_http")
    answer = _post(client, "gateway_http", ndjson(_malicious(employee.email, 20)), token)
    assert answer.status_code == 202  # kept with its body; requeue_stalled sends it again
    batch = IngestBatch.objects.get()
    assert batch.status == IngestBatch.Status.QUEUED and batch.payload is not None
    closed_broker.restore()
    IngestBatch.objects.filter(pk=batch.pk).update(received_at=timezone.now() - timedelta(hours=1))
    sent = []
    from risk import tasks

    original = tasks.process_batch.delay
    tasks.process_batch.delay = lambda batch_id: sent.append(batch_id)
    try:
        assert queueing.requeue_stalled() == 1
    finally:
        tasks.process_batch.delay = original
    batches.process_queued_batch(sent[0])
    batch.refresh_from_db()
    assert (batch.status, batch.rows_stored, batch.rows_duplicate) == (IngestBatch.Status.DONE, 20, 0)


def test_a_sync_batch_whose_request_fails_ends_failed_and_its_rows_are_still_scored(
        client, employee, source, enable, monkeypatch):
    enable("malicious_file")
    from risk.ingest import parsing

    original_chunks = parsing.parse_chunks
    monkeypatch.setattr(parsing, "parse_chunks", lambda kind, body, resolve: original_chunks(kind, body, resolve, 50))
    original_store = storage.store
    calls = []

    def store(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return original_store(*args, **kwargs)

    monkeypatch.setattr(storage, "store", store)
    monkeypatch.setattr(batches, "detection_queue", lambda pending_id: False)  # the broker is down too
    _, token = source("gateway_http")
    answer = _post(client, "gateway_http", ndjson(_malicious(employee.email, 120)), token)
    assert answer.status_code == 503
    batch = IngestBatch.objects.get()
    assert batch.status == IngestBatch.Status.FAILED and batch.finished_at is not None
    assert "Storing stopped" in batch.message
    assert (batch.rows_stored, batch.chunks_done) == (50, 1)
    # The first chunk's rows were stored: their detection is pending, and the worker finds them.
    [pending] = PendingDetection.objects.values_list("pk", flat=True)
    detection.detection_run(pending)
    assert RiskEvent.objects.count() == 50 and not PendingDetection.objects.exists()
    assert detection.detection_run(pending) is None  # a second delivery finds nothing to do
    assert RiskEvent.objects.count() == 50


def test_a_redelivered_batch_resumes_and_counts_earlier_rows_as_stored(employee, source, settings, monkeypatch):
    from risk.ingest import parsing

    original_chunks = parsing.parse_chunks
    monkeypatch.setattr(parsing, "parse_chunks", lambda kind, body, resolve: original_chunks(kind, body, resolve, 40))
    monkeypatch.setattr(batches, "detection_queue", lambda pending_id: True)
    sender, _ = source("gateway_http")
    rows = [*_malicious(employee.email, 100), {"Datetime": "yesterday"}]
    batch = IngestBatch.objects.create(source=sender, kind="gateway_http", payload=ndjson(rows),
                                       status=IngestBatch.Status.QUEUED)
    original_store = storage.store
    calls = []

    class Killed(BaseException):
        """The worker dies (SIGKILL) after its second chunk committed."""

    def dying_store(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise Killed
        return original_store(*args, **kwargs)

    monkeypatch.setattr(storage, "store", dying_store)
    with pytest.raises(Killed):
        batches.process_queued_batch(str(batch.pk))
    batch.refresh_from_db()
    assert (batch.status, batch.chunks_done, batch.rows_stored) == (IngestBatch.Status.PROCESSING, 2, 80)

    monkeypatch.setattr(storage, "store", original_store)
    dead_owner = batch.lease_owner
    # A second delivery while the dead worker's lease still runs does nothing ...
    assert batches.process_queued_batch(str(batch.pk)).chunks_done == 2
    assert IngestBatch.objects.get(pk=batch.pk).lease_owner == dead_owner
    # ... once it ran out, the batch is taken over from its checkpoint.
    IngestBatch.objects.filter(pk=batch.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    done = batches.process_queued_batch(str(batch.pk))
    assert done.status == IngestBatch.Status.DONE and done.lease_owner not in ("", dead_owner)
    assert done.message.startswith("Taken over from worker ") and "resumed after chunk 2" in done.message
    assert (done.rows_total, done.rows_stored, done.rows_duplicate, done.rows_rejected) == (101, 100, 0, 1)
    assert [r["line"] for r in done.rejected] == [101]
    sender.refresh_from_db()
    assert (sender.events_accepted, sender.events_rejected) == (100, 1)
    assert GatewayHttpEvent.objects.count() == 100
    covered = [pk for ids in PendingDetection.objects.values_list("event_ids", flat=True) for pk in ids]
    assert sorted(covered) == sorted(GatewayHttpEvent.objects.values_list("pk", flat=True))
    assert batches.process_queued_batch(str(batch.pk)).rows_stored == 100  # once done, left alone


def test_the_sweep_requeues_only_what_waited_too_long(employee, source, settings, monkeypatch):
    sent: list[int] = []
    from risk import tasks

    monkeypatch.setattr(tasks.detect_pending, "delay", lambda pending_id: sent.append(pending_id))
    settings.RISK_DETECTION_RETRY_SECONDS = 300
    now = timezone.now()
    fresh = PendingDetection.objects.create(source_kind="gateway_http", event_ids=[1], queued_at=now)
    lost = PendingDetection.objects.create(source_kind="gateway_http", event_ids=[2], queued_at=None)
    old = PendingDetection.objects.create(source_kind="gateway_http", event_ids=[3],
                                          queued_at=now - timedelta(minutes=10))
    assert detection.detection_sweep() == 2
    assert sorted(sent) == sorted([lost.pk, old.pk])
    assert detection.detection_sweep() == 0  # just queued: not again until the retry interval passed
    assert PendingDetection.objects.get(pk=fresh.pk).queued_at == now


def test_each_further_wait_of_the_sweep_is_twice_the_last(employee, source, settings, monkeypatch):
    """Rows behind a long backlog are queued again after 40 s, then 80 s, 160 s ... not every sweep."""
    sent: list[int] = []
    from risk import tasks

    monkeypatch.setattr(tasks.detect_pending, "delay", lambda pending_id: sent.append(pending_id))
    settings.RISK_DETECTION_RETRY_SECONDS = 40
    now = timezone.now()
    waiting = PendingDetection.objects.create(source_kind="gateway_http", event_ids=[1],
                                              queued_at=now - timedelta(seconds=41))
    assert detection.detection_sweep() == 1
    assert PendingDetection.objects.get(pk=waiting.pk).requeues == 1
    PendingDetection.objects.filter(pk=waiting.pk).update(queued_at=timezone.now() - timedelta(seconds=60))
    assert detection.detection_sweep() == 0  # the second wait is 80 s
    PendingDetection.objects.filter(pk=waiting.pk).update(queued_at=timezone.now() - timedelta(seconds=81))
    assert detection.detection_sweep() == 1
    PendingDetection.objects.filter(pk=waiting.pk).update(requeues=9,
                                                         queued_at=timezone.now() - timedelta(seconds=40 * 31))
    assert detection.detection_sweep() == 0  # capped at 32 times the first wait, not 2 ** 9
    PendingDetection.objects.filter(pk=waiting.pk).update(queued_at=timezone.now() - timedelta(seconds=40 * 33))
    assert detection.detection_sweep() == 1
    assert sent == [waiting.pk] * 3


def test_a_stale_batch_is_expired_by_the_sweep_with_a_reason(source, settings, celery_workers):
    settings.RISK_BATCH_STALE_MINUTES = 30
    sender, _ = source("gateway_http")
    long_ago = timezone.now() - timedelta(hours=2)
    stuck = IngestBatch.objects.create(source=sender, kind="gateway_http", status=IngestBatch.Status.QUEUED,
                                       received_at=long_ago)
    dead_request = IngestBatch.objects.create(source=sender, kind="gateway_http",
                                              status=IngestBatch.Status.PROCESSING, received_at=long_ago)
    recent = IngestBatch.objects.create(source=sender, kind="gateway_http", status=IngestBatch.Status.PROCESSING)
    waiting = IngestBatch.objects.create(source=sender, kind="gateway_http", status=IngestBatch.Status.QUEUED,
                                         received_at=long_ago, payload=b"{}")  # requeue_stalled's to resend
    celery_workers.start()
    from risk import tasks

    tasks.expire_stale_batches.delay()  # what beat sends every ten minutes
    _wait(lambda: IngestBatch.objects.filter(status=IngestBatch.Status.FAILED).count() == 2, 60,
          "the sweep never expired the stale batches")
    for batch in (stuck, dead_request):
        batch.refresh_from_db()
        assert batch.finished_at is not None and batch.message.startswith("Expired: still ")
    assert IngestBatch.objects.get(pk=recent.pk).status == IngestBatch.Status.PROCESSING
    assert IngestBatch.objects.get(pk=waiting.pk).status == IngestBatch.Status.QUEUED
    assert TelemetrySource.objects.filter(pk=sender.pk).exists()


def test_a_rescore_taken_over_keeps_the_people_the_first_worker_changed(make_user):
    now = timezone.now()
    run = RescoreRun.objects.create(status=RescoreRun.Status.RUNNING, created_at=now - timedelta(hours=1),
                                    started_at=now - timedelta(hours=1), lease_owner="dead-worker",
                                    lease_expires_at=now - timedelta(seconds=1), chunks_total=10, chunks_done=6,
                                    users_scored=60000, users_changed=61501)
    make_user()
    done = scores.rescore_run(run.pk, chunk_size=1000)
    assert done.status == RescoreRun.Status.DONE
    assert done.users_changed == 61501  # going over the first chunks again changes nobody


@pytest.mark.django_db(transaction=False)
def test_ingest_and_scoring_run_on_queues_of_their_own(settings):
    from console.celery import route_task

    settings.CELERY_INGEST_QUEUE, settings.CELERY_SCORING_QUEUE = "ingest", "scoring"
    assert route_task("risk.tasks.process_batch", (), {}, {}) == {"queue": "ingest"}
    for name in ("risk.tasks.detect_pending", "risk.tasks.sweep_detection", "risk.tasks.rescore"):
        assert route_task(name, (), {}, {}) == {"queue": "scoring"}
    assert route_task("risk.tasks.prune_telemetry", (), {}, {}) is None
    settings.CELERY_INGEST_QUEUE = ""
    assert route_task("risk.tasks.process_batch", (), {}, {}) is None
    # Outside the tests, a worker started without -Q (as ./dev run starts it) consumes them all.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env.update(DJANGO_SETTINGS_MODULE="console.settings", CONSOLE_ENV="development")
    listed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from console.celery import app; "
                               "print(' '.join(sorted(q.name for q in app.amqp.queues.consume_from.values())))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()
    assert listed == ["default", "ingest", "scoring"]
    worker_line = next(line for line in (ROOT / "dev").read_text().splitlines() if " worker " in line)
    assert " -Q " not in worker_line


@pytest.mark.django_db(transaction=False)
def test_the_health_page_shows_every_queue_a_worker_must_consume(settings):
    from console.health import check_broker

    settings.CELERY_INGEST_QUEUE, settings.CELERY_SCORING_QUEUE = "ingest-unused-test", "scoring-unused-test"
    check = check_broker()
    assert check.ok
    named = [line.split(":")[0].removeprefix("Queue ").split(" has ")[0] for line in check.details]
    assert named == [settings.CELERY_TASK_DEFAULT_QUEUE, "ingest-unused-test", "scoring-unused-test"]
