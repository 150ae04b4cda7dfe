from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from risk.models import AuthEvent, GatewayHttpEvent, IngestBatch, TelemetrySource
from risk.tests.factories import access_row, http_row, ndjson

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
URL = "/api/v1/telemetry/"


def _post(client, kind, body, token, **headers):
    return client.post(URL + kind, body, content_type="application/x-ndjson", HTTP_AUTHORIZATION=f"Bearer {token}",
                       **headers)


def test_mixed_rows_store_the_good_ones_and_name_each_bad_one(client, employee, source):
    _, token = source("access_requests")
    lines = [
        json.dumps(access_row(employee.email, T0, ip="85.214.132.117", ray="good-1")),
        "{not json",
        json.dumps(access_row(employee.email, T0, ip="999.1.1.1", ray="bad-ip")),
        json.dumps({"Email": employee.email, "Allowed": True}),  # no CreatedAt
        "",
        json.dumps(access_row("someone", T0, ip="85.214.132.117", ray="bad-mail")),
        json.dumps(access_row(employee.email, T0 + timedelta(minutes=1), ip="23.235.32.1", ray="good-2",
                              Allowed="maybe")),
        json.dumps(["an", "array"]),
        json.dumps(access_row(employee.email, T0 + timedelta(minutes=2), ip="23.235.32.1", ray="good-3")),
    ]
    answer = _post(client, "access_requests", "\n".join(lines).encode(), token)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["received"], body["stored"], body["rejected_count"]) == (8, 2, 6)
    assert [(r["line"], r["field"]) for r in body["rejected"]] == [
        (2, ""), (3, "IPAddress"), (4, "CreatedAt"), (6, "Email"), (7, "Allowed"), (8, ""),
    ]
    assert "not an IP address" in body["rejected"][1]["reason"]
    assert set(AuthEvent.objects.values_list("ray_id", flat=True)) == {"good-1", "good-3"}
    stored = AuthEvent.objects.get(ray_id="good-1")
    assert (stored.user_id, stored.country, stored.city) == (employee.pk, "DE", "Berlin")
    sender = TelemetrySource.objects.get()
    assert (sender.events_accepted, sender.events_rejected) == (2, 6)


def test_the_same_batch_twice_is_stored_once_gzip_and_arrays_alike(client, employee, source):
    _, token = source("gateway_http")
    rows = [http_row(employee.email, T0 + timedelta(seconds=i), host="chatgpt.com") for i in range(5)]
    rows.append(http_row(employee.email, T0, host="claude.ai", request_id="req-1",
                         UploadMatchedDlpProfiles=["Credentials"], FileInfo={"files": [
                             {"name": "a.csv", "size": 2048, "direction": "upload"}]}))
    first = _post(client, "gateway_http", gzip.compress(ndjson(rows)), token, HTTP_CONTENT_ENCODING="gzip")
    assert first.json()["stored"] == 6
    again = client.post(URL + "gateway_http", json.dumps(rows), content_type="application/json",
                        HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (again.json()["stored"], again.json()["duplicates"]) == (0, 6)
    assert GatewayHttpEvent.objects.count() == 6
    upload = GatewayHttpEvent.objects.get(host="claude.ai")
    assert (upload.dlp_match_count, upload.bytes_sent, upload.event_key) == (1, 2048, "gate:req-1")


def test_tokens_are_checked_and_kinds_must_match(client, source, security_admin):
    from risk.services import sources

    sender, token = source("gateway_dns")
    assert _post(client, "gateway_dns", b"{}", "zts_nope_nope").status_code == 401
    assert client.post(URL + "gateway_dns", b"{}", content_type="application/json").status_code == 401
    wrong = _post(client, "gateway_http", b"{}", token)
    assert wrong.status_code == 403 and "/api/v1/telemetry/gateway_dns" in wrong.json()["error"]
    assert _post(client, "unknown_kind", b"{}", token).status_code == 404
    sources.telemetry_source_revoke(actor=security_admin, source=sender)
    assert _post(client, "gateway_dns", b"{}", token).status_code == 401


def test_bad_bodies_are_refused_with_the_reason(client, source, settings):
    _, token = source("gateway_dns")
    assert "empty" in _post(client, "gateway_dns", b"   ", token).json()["error"]
    broken = _post(client, "gateway_dns", b"\x1f\x8b\x08garbage", token)
    assert broken.status_code == 400 and "gzip" in broken.json()["error"]
    settings.RISK_INGEST_MAX_INFLATED_BYTES = 1000
    bomb = _post(client, "gateway_dns", gzip.compress(b" " * 100_000), token)
    assert bomb.status_code == 413 and "inflates" in bomb.json()["error"]
    assert not IngestBatch.objects.filter(status="done").exists()


def test_a_large_batch_is_answered_at_once_and_stored_by_a_worker(client, employee, source, settings,
                                                                   celery_worker_process):
    import time

    settings.RISK_INGEST_SYNC_MAX_BYTES = 1000
    _, token = source("gateway_http")
    rows = [http_row(employee.email, T0 + timedelta(seconds=i), host="perplexity.ai") for i in range(300)]
    rows.append({"Datetime": "yesterday", "HTTPHost": "x.example"})
    answer = _post(client, "gateway_http", ndjson(rows), token)
    assert answer.status_code == 202
    status_url = answer.json()["status_url"]
    deadline = time.monotonic() + 20
    while True:
        status = client.get(status_url, HTTP_AUTHORIZATION=f"Bearer {token}").json()
        if status["status"] == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (status["status"], status["stored"], status["rejected_count"]) == ("done", 300, 1)
    assert status["rejected"][0] == {"line": 301, "field": "Datetime",
                                     "reason": "'yesterday' is not an RFC 3339 timestamp or a unix time"}
    assert GatewayHttpEvent.objects.count() == 300
    assert IngestBatch.objects.get().payload is None  # nothing kept once stored


@pytest.mark.worker
def test_a_worker_killed_mid_batch_loses_nothing_doubles_nothing_and_scores_everything(
        client, employee, source, settings, celery_workers, enable):
    """SIGKILL while storing: once the dead worker's lease runs out, the stall sweep sends the
    batch to a second worker, which takes the lease over and resumes after the committed chunks;
    the counters say every row was stored by this batch (none a duplicate), and every stored row
    reaches the behaviours once, including the chunks the killed worker stored."""
    import signal
    import socket
    import time

    from risk import tasks
    from risk.models import PendingDetection, RiskEvent
    from risk.services import queueing

    enable("malicious_file")
    settings.RISK_INGEST_SYNC_MAX_BYTES = 1000
    # A short lease so the test need not wait a minute.
    env = {"JOB_LEASE_SECONDS": "6", "RISK_DETECTION_RETRY_SECONDS": "1"}
    first = celery_workers.start(**env)
    sender, token = source("gateway_http")
    total = 60000
    rows = [http_row(employee.email, T0 + timedelta(milliseconds=i), host=f"h{i % 97}.example",
                     request_id=f"r{i}", BlockedFileReason="malware") for i in range(total)]
    assert _post(client, "gateway_http", ndjson(rows), token).status_code == 202
    deadline = time.monotonic() + 30
    while not GatewayHttpEvent.objects.exists():
        assert time.monotonic() < deadline, "the first worker never started storing"
        time.sleep(0.02)
    first["process"].send_signal(signal.SIGKILL)
    first["process"].wait()
    stored_when_killed = GatewayHttpEvent.objects.count()
    assert 0 < stored_when_killed < total, "the batch finished before the worker could be killed"
    killed = IngestBatch.objects.get()
    host = socket.gethostname()[:60]
    assert killed.status == "processing" and killed.lease_owner.startswith(f"{host}:{first['pid']}:")

    # Redis may hand the killed worker's unacknowledged task back to its queue (any worker on
    # this Redis restores old unacked tasks): the second worker reads a queue of its own, so it
    # gets the job only from the sweep.
    from console.celery import app

    app.conf.task_default_queue = f"{first['queue']}-b"  # the fixture puts it back
    second = celery_workers.start(queue=app.conf.task_default_queue, **env)
    swept = 0
    deadline = time.monotonic() + 240
    while IngestBatch.objects.filter(status="done").count() == 0 or PendingDetection.objects.exists():
        assert time.monotonic() < deadline, "the second worker did not finish the batch and its detection"
        # What beat sends every 10 s: the batch once its lease ran out. And every minute:
        # detection whose job died with the first worker (killed between committing a chunk
        # and queuing its job) is queued again.
        swept += queueing.requeue_stalled()
        tasks.sweep_detection.delay()
        time.sleep(1)
    assert swept == 1  # taken over through the sweep, once
    batch = IngestBatch.objects.get()
    assert batch.lease_owner.startswith(f"{host}:{second['pid']}:")
    assert batch.message.startswith(f"Taken over from worker {host}:{first['pid']} after its lease ran out")
    assert GatewayHttpEvent.objects.count() == total
    assert (batch.rows_total, batch.rows_stored, batch.rows_duplicate) == (total, total, 0)
    sender.refresh_from_db()
    assert sender.events_accepted == total
    # Every stored row was run through the behaviours exactly once.
    found = RiskEvent.objects.filter(behaviour="malicious_file")
    assert found.count() == total
    assert set(found.values_list("source_id", flat=True)) == set(GatewayHttpEvent.objects.values_list("pk",
                                                                                                       flat=True))
