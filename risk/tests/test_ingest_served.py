"""Hostile telemetry bodies against the documented serving setup (docs/deployment.md): real
gunicorn (docs/deploy/gunicorn.conf.py, gthread) behind real nginx (docs/deploy/nginx-console.conf),
on this test's committed database. A gzip bomb is refused without a web worker inflating it; a
row with a NUL character is rejected by itself with its line and field while the good rows are
stored; every member of a multi-member gzip body is read, and bytes after the last one refused."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from console.testing.serving import (
    DEPLOY,
    NotInstalled,
    Processes,
    children,
    rss_bytes,
    start_gunicorn,
    start_nginx,
)
from risk.models import GatewayHttpEvent, IngestBatch
from risk.tests.factories import gzip_bomb, http_row, ndjson

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.serving]

MiB = 1024 * 1024
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, int]]:
    """``(base URL through nginx, gunicorn master pid)``."""
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ) | {
        "DJANGO_SETTINGS_MODULE": "console.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DATABASE_CONN_MAX_AGE": "0",
    }
    running = Processes(tmp_path)
    try:
        master, port, _ = start_gunicorn(running, env, "--config", str(DEPLOY / "gunicorn.conf.py"))
        try:
            front = start_nginx(running, port)[1]
        except NotInstalled as exc:
            pytest.fail(str(exc))
        yield f"http://127.0.0.1:{front}", master.pid
    finally:
        running.stop_all()


def _post(base: str, token: str, body: bytes, **headers: str) -> requests.Response:
    return requests.post(f"{base}/api/v1/telemetry/gateway_http", data=body, timeout=60, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson", **headers})


def _peak_rss(pid: int) -> int:
    """The most resident memory ``pid`` has had (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")



def test_a_gzip_bomb_is_refused_without_a_worker_inflating_it(served, source):
    base, master = served
    _, token = source("gateway_http")
    workers = children(master)
    assert len(workers) == 2
    for _ in range(4):  # both workers warmed up (apps, URL resolver, database connection) before measuring
        _post(base, token, b"\n")
    before = {pid: _peak_rss(pid) for pid in workers}
    bomb = gzip_bomb(250 * MiB)  # 250 MiB inflated, a quarter of a megabyte sent
    # Two at a time, four times: the bombs reach several threads of each worker.
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: _post(base, token, bomb, **{"Content-Encoding": "gzip"}), range(8)))
    for answer in answers:
        assert answer.status_code == 413
        assert "inflates to more than" in answer.json()["error"]
    grown = {pid: (_peak_rss(pid) - before[pid]) / MiB for pid in workers}
    # Inflating a bomb would take 250 MiB. A stream refused at the 64 MiB cap holds at most that
    # while it is read, and gives it back once answered (the documented gunicorn configuration
    # keeps large buffers out of the threads' allocator arenas): two bombs read at once in a worker
    # peak near 128 MiB, never 250 MiB per bomb, nor 64 MiB kept for good by each thread.
    assert all(growth < 200 for growth in grown.values()), grown
    settled = {pid: (rss_bytes(pid) - before[pid]) / MiB for pid in workers}
    assert all(kept < 48 for kept in settled.values()), settled
    assert children(master) == workers  # no worker died or was replaced
    assert not IngestBatch.objects.filter(rows_stored__gt=0).exists()


def test_a_nul_row_is_rejected_alone_and_the_good_rows_are_stored(served, source, employee):
    base, _ = served
    _, token = source("gateway_http")
    good = [http_row(employee.email, T0 + timedelta(seconds=i), host="ok.example", request_id=f"ok{i}")
            for i in range(3)]
    poisoned = http_row(employee.email, T0, host="bad\u0000.example", request_id="bad-1")
    answer = _post(base, token, ndjson([good[0], poisoned, good[1], good[2]]))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["received"], body["stored"], body["rejected_count"]) == (4, 3, 1)
    assert [(r["line"], r["field"]) for r in body["rejected"]] == [(2, "HTTPHost")]
    assert GatewayHttpEvent.objects.count() == 3
    assert IngestBatch.objects.get().status == "done"


def test_every_gzip_member_is_read_and_trailing_bytes_are_refused(served, source, employee):
    base, _ = served
    _, token = source("gateway_http")
    first = [http_row(employee.email, T0 + timedelta(seconds=i), host="a.example", request_id=f"a{i}")
             for i in range(3)]
    second = [http_row(employee.email, T0 + timedelta(seconds=i), host="b.example", request_id=f"b{i}")
              for i in range(4)]
    two_members = gzip.compress(ndjson(first)) + gzip.compress(ndjson(second))
    answer = _post(base, token, two_members, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 200 and (answer.json()["received"], answer.json()["stored"]) == (7, 7)
    assert GatewayHttpEvent.objects.filter(host="b.example").count() == 4

    third = [http_row(employee.email, T0, host="c.example", request_id="c0")]
    answer = _post(base, token, gzip.compress(ndjson(third)) + b"garbage", **{"Content-Encoding": "gzip"})
    assert answer.status_code == 400 and "trailing data after the gzip stream" in answer.json()["error"]
    assert not GatewayHttpEvent.objects.filter(host="c.example").exists()
