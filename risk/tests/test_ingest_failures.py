"""Telemetry ingest under hostile bodies and outages: gzip bombs, multi-member gzip and trailing
bytes, NUL characters, and the database, Redis or broker being down."""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from risk.ingest import parsing
from risk.models import GatewayHttpEvent, IngestBatch
from risk.tests.factories import gzip_bomb, http_row, ndjson

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
URL = "/api/v1/telemetry/"
MiB = 1024 * 1024


def _post(client, kind, body, token, **headers):
    return client.post(URL + kind, body, content_type="application/x-ndjson", HTTP_AUTHORIZATION=f"Bearer {token}",
                       **headers)



def test_a_gzip_bomb_is_a_413_without_inflating_it_in_memory(client, source, settings):
    settings.RISK_INGEST_MAX_INFLATED_BYTES = 16 * MiB
    _, token = source("gateway_http")
    bomb = gzip_bomb(250 * MiB)
    assert len(bomb) < 512 * 1024
    tracemalloc.start()
    try:
        answer = _post(client, "gateway_http", bomb, token, HTTP_CONTENT_ENCODING="gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 413 and "inflates to more than" in answer.json()["error"]
    assert peak < 40 * MiB, f"peak {peak / MiB:.0f} MiB"
    assert not IngestBatch.objects.exists()


def test_the_default_inflate_limit_is_tens_of_mebibytes():
    from django.conf import settings

    assert settings.RISK_INGEST_MAX_INFLATED_BYTES == 64 * MiB


def test_a_large_batch_is_decoded_a_chunk_at_a_time(employee):
    rows = [http_row(employee.email, T0 + timedelta(seconds=i), host=f"h{i}.example", request_id=f"r{i}",
                     CategoryNames=["Artificial Intelligence", "Technology"], UserAgent="Mozilla/5.0 " * 10)
            for i in range(20000)]
    body = ndjson(rows)
    del rows
    tracemalloc.start()
    try:
        total = 0
        for good, bad, count in parsing.parse_chunks("gateway_http", body, lambda email, device: 1, size=2000):
            assert not bad
            total += count
            del good
        _, chunked_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        everything = parsing.parse("gateway_http", body, lambda email, device: 1)
        _, whole_peak = tracemalloc.get_traced_memory()
        del everything
    finally:
        tracemalloc.stop()
    assert total == 20000
    assert chunked_peak < whole_peak / 3, (chunked_peak, whole_peak)


def test_every_gzip_member_is_read(client, employee, source):
    _, token = source("gateway_http")
    first = [http_row(employee.email, T0 + timedelta(seconds=i), host="a.example", request_id=f"a{i}")
             for i in range(3)]
    second = [http_row(employee.email, T0 + timedelta(seconds=i), host="b.example", request_id=f"b{i}")
              for i in range(4)]
    body = gzip.compress(ndjson(first)) + gzip.compress(ndjson(second))
    answer = _post(client, "gateway_http", body, token, HTTP_CONTENT_ENCODING="gzip")
    assert answer.status_code == 200
    assert (answer.json()["received"], answer.json()["stored"]) == (7, 7)
    assert GatewayHttpEvent.objects.filter(host="b.example").count() == 4


@pytest.mark.parametrize("trailer", [b"garbage", b"\x00\x00\x00\x00", b"\x1f"])
def test_trailing_bytes_after_the_gzip_stream_are_refused(client, employee, source, trailer):
    _, token = source("gateway_http")
    body = gzip.compress(ndjson([http_row(employee.email, T0, host="a.example")])) + trailer
    answer = _post(client, "gateway_http", body, token, HTTP_CONTENT_ENCODING="gzip")
    assert answer.status_code == 400
    assert "trailing data after the gzip stream" in answer.json()["error"]
    assert not GatewayHttpEvent.objects.exists()


def _nul_batch(email: str) -> bytes:
    good = [http_row(email, T0 + timedelta(seconds=i), host="ok.example", request_id=f"ok{i}") for i in range(3)]
    bad_host = http_row(email, T0, host="bad\u0000.example", request_id="bad-1")
    bad_nested = http_row(email, T0, host="ok.example", request_id="bad-2",
                          FileInfo={"files": [{"name": "x\u0000.csv", "size": 1}]})
    bad_list = http_row(email, T0, host="ok.example", request_id="bad-3", CategoryNames=["AI", "x\u0000"])
    return ndjson([good[0], bad_host, good[1], bad_nested, bad_list, good[2]])


def test_a_nul_character_rejects_its_row_only_with_line_and_field(client, employee, source):
    _, token = source("gateway_http")
    answer = _post(client, "gateway_http", _nul_batch(employee.email), token)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["received"], body["stored"], body["rejected_count"]) == (6, 3, 3)
    assert [(r["line"], r["field"]) for r in body["rejected"]] == [
        (2, "HTTPHost"), (4, "FileInfo.files[0].name"), (5, "CategoryNames[1]"),
    ]
    assert "NUL" in body["rejected"][0]["reason"]
    assert GatewayHttpEvent.objects.count() == 3


def test_a_nul_character_in_a_queued_batch_is_rejected_by_the_worker(
    client, employee, source, settings, celery_worker_process,
):
    settings.RISK_INGEST_SYNC_MAX_BYTES = 100
    _, token = source("gateway_http")
    answer = _post(client, "gateway_http", _nul_batch(employee.email), token)
    assert answer.status_code == 202
    deadline = time.monotonic() + 30
    while True:
        status = client.get(answer.json()["status_url"], HTTP_AUTHORIZATION=f"Bearer {token}").json()
        if status["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (status["status"], status["stored"], status["rejected_count"]) == ("done", 3, 3)
    assert status["rejected"][0]["field"] == "HTTPHost"


def test_a_row_the_database_refuses_fails_the_batch_once(employee, source, monkeypatch):
    """What validation misses and the database refuses ends the batch (never re-queued)."""
    from django.db import DataError

    from risk.ingest import storage
    from risk.services import batches, queueing

    sender, _ = source("gateway_http")

    def refuse(*args, **kwargs):
        raise DataError("value too long for type character varying(255)")

    batch = IngestBatch.objects.create(source=sender, kind="gateway_http", size_bytes=10, status="queued",
                                       payload=ndjson([http_row(employee.email, T0, host="a.example")]))
    monkeypatch.setattr(storage, "store", refuse)
    batches.process_queued_batch(str(batch.pk))
    batch.refresh_from_db()
    assert batch.status == "failed" and "could not be stored" in batch.message and batch.payload is None
    IngestBatch.objects.filter(pk=batch.pk).update(received_at=T0)
    assert queueing.requeue_stalled() == 0


def _assert_503(answer):
    assert answer.status_code == 503
    assert answer["Content-Type"] == "application/json"
    assert int(answer["Retry-After"]) > 0
    assert "again later" in answer.json()["error"]


def test_a_stopped_redis_is_a_503_nothing_is_stored_and_the_batch_ends_failed(
        client, employee, source, monkeypatch, own_redis):
    """Redis (broker and caches) gone mid-request: the sender hears 503 and sends again; the
    batch record says why it failed instead of staying queued forever. (The broker alone being
    down is no reason to refuse: see test_scoring_outbox.py.)"""
    from console.celery import app

    _, token = source("gateway_http")
    broker = f"{own_redis.url}/1"
    connect = app.connection_for_write
    monkeypatch.setattr(app, "connection_for_write", lambda url=None, **kwargs: connect(broker, **kwargs))
    own_redis.stop()
    answer = _post(client, "gateway_http", ndjson([http_row(employee.email, T0, host="a.example")]), token)
    _assert_503(answer)
    assert not GatewayHttpEvent.objects.exists()
    batch = IngestBatch.objects.get()
    assert batch.status == IngestBatch.Status.FAILED and batch.message.startswith("Storing stopped")


def test_a_stopped_cache_is_a_503(client, employee, source, own_redis):
    _, token = source("gateway_http")
    own_redis.stop()
    answer = _post(client, "gateway_http", ndjson([http_row(employee.email, T0, host="a.example")]), token)
    _assert_503(answer)


def test_a_database_outage_is_a_503(client, source, monkeypatch):
    from django.db import OperationalError

    from risk.services import sources

    _, token = source("gateway_http")

    def down(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    monkeypatch.setattr(sources, "authenticate_source", down)
    _assert_503(_post(client, "gateway_http", json.dumps([{}]).encode(), token))



def test_a_queued_batch_is_kept_compressed_and_stored_whole_by_the_worker(client, employee, source, settings):
    """A large batch is kept gzipped until a worker stores it: as sent when it came gzipped, else
    compressed on arrival, so the web worker never pushes the inflated body through the driver."""
    from risk.services import batches

    settings.RISK_INGEST_SYNC_MAX_BYTES = 1000
    _, token = source("gateway_http")
    plain = ndjson([http_row(employee.email, T0, host="plain.example", request_id=f"p{n}") for n in range(40)])
    sent_gzipped = gzip.compress(
        ndjson([http_row(employee.email, T0, host="zipped.example", request_id=f"z{n}") for n in range(40)]))
    first = _post(client, "gateway_http", plain, token)
    second = _post(client, "gateway_http", sent_gzipped, token, HTTP_CONTENT_ENCODING="gzip")
    assert (first.status_code, second.status_code) == (202, 202)
    kept_plain = bytes(IngestBatch.objects.get(pk=first.json()["batch"]).payload)
    kept_zipped = bytes(IngestBatch.objects.get(pk=second.json()["batch"]).payload)
    assert kept_plain[:2] == b"\x1f\x8b" and gzip.decompress(kept_plain) == plain
    assert kept_zipped == sent_gzipped
    for answer in (first, second):
        batch = batches.process_queued_batch(answer.json()["batch"])
        assert (batch.status, batch.rows_stored, batch.payload) == ("done", 40, None)
    assert GatewayHttpEvent.objects.count() == 80
