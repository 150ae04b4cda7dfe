"""Slow clients cannot take the decision API down (docs/deployment.md, "Serving: resisting slow
clients").

Real processes: gunicorn started with docs/deploy/gunicorn.conf.py (2 workers) behind nginx
running docs/deploy/nginx-console.conf (only the ports changed), against this test's committed
database. Forty connections declare a 1000-byte body, send 10 bytes and stall; meanwhile a normal
decision must be answered within two seconds. The counter-case shows the test can fail: the same
attack straight at gunicorn's sync workers (the deployment this replaces) leaves the decision
unanswered."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from accounts.tests.factories import GroupFactory
from console.access import services
from console.testing.serving import DEPLOY, NotInstalled, Processes, start_gunicorn, start_nginx

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.serving]

# The attack used two connections; forty is well beyond the 2 × 4 threads of the documented
# workers.
SLOW_CLIENTS = 40
PROMPT = 2.0  # seconds within which the decision must be answered while the slow clients stall


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


def _gunicorn(processes: Processes, *options: str) -> tuple[int, Path]:
    """gunicorn serving console.wsgi with 2 workers on a free loopback port, on this test's database."""
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ) | {
        "DJANGO_SETTINGS_MODULE": "console.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DATABASE_CONN_MAX_AGE": "0",
    }
    _, port, log = start_gunicorn(processes, env, *options)
    return port, log


def _nginx_in_front(processes: Processes, upstream_port: int) -> int:
    try:
        return start_nginx(processes, upstream_port)[1]
    except NotInstalled as exc:
        pytest.fail(str(exc))


@pytest.fixture
def decision(super_admin, employee) -> dict:
    """A committed application, policy, user and API token: what a valid decision request needs."""
    engineering = GroupFactory(name="Engineering")
    engineering.members.add(employee)
    app = services.application_create(actor=super_admin, name="Wiki", type="self_hosted",
                                      domain="wiki.corp.example", session_seconds=3600)
    policy = services.policy_create(actor=super_admin, name="Engineers", action="allow", rules={
        "include": [{"type": "group", "values": [engineering.pk]}],
    })
    services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    _, secret = services.api_token_create(actor=super_admin, name="edge proxy", scopes=["access:decide"])
    return {"token": secret, "body": {"application": app.aud, "user": {"email": employee.email}}}


def _stall(port: int, token: str) -> list[socket.socket]:
    """SLOW_CLIENTS connections that send their headers, 10 of the 1000 body bytes they declare,
    and nothing more."""
    head = (
        "POST /api/v1/access/decide HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    stalled = []
    for _ in range(SLOW_CLIENTS):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(head + b'{"applicat')
        stalled.append(sock)
    time.sleep(0.5)  # the server has taken them up
    return stalled


def _connections_to(port: int) -> int:
    """Established TCP connections whose server end is ``port`` on this machine."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            count += int(local.rsplit(":", 1)[1], 16) == port and state == "01"
    return count


def _decide(port: int, decision: dict) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.post(
        f"http://127.0.0.1:{port}/api/v1/access/decide", data=json.dumps(decision["body"]), timeout=PROMPT,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {decision['token']}"},
    )
    return response, time.monotonic() - started


def _still_waiting(sock: socket.socket) -> bool:
    """Open, and nothing answered yet."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""  # an early answer
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


def test_stalled_bodies_do_not_hold_the_workers_behind_nginx(processes, decision):
    gunicorn_port, _ = _gunicorn(processes, "--config", str(DEPLOY / "gunicorn.conf.py"))
    port = _nginx_in_front(processes, gunicorn_port)
    assert _decide(port, decision)[0].json()["decision"] == "allow"

    stalled = _stall(port, decision["token"])
    try:
        response, elapsed = _decide(port, decision)
        assert response.status_code == 200 and response.json()["decision"] == "allow"
        assert elapsed < PROMPT
        # nginx still holds every slow body; none of them reached gunicorn, which holds only
        # nginx's idle keep-alive connection(s).
        assert all(_still_waiting(sock) for sock in stalled)
        assert _connections_to(gunicorn_port) < 5
    finally:
        for sock in stalled:
            sock.close()

    # The decision API's own limit is enforced in front: a larger body is refused before it is read.
    too_big = requests.post(f"http://127.0.0.1:{port}/api/v1/access/decide", data=b"x" * (64 * 1024 + 1),
                            headers={"Content-Type": "application/json"}, timeout=5)
    assert too_big.status_code == 413


def test_without_the_front_the_same_attack_blocks_sync_workers(processes, decision):
    """The counter-case: gunicorn's sync workers, reached directly, are each held by one stalled
    body until gunicorn's timeout kills them (5 s here; 60 s in the deployment this replaces)."""
    port, _ = _gunicorn(processes, "--worker-class", "sync", "--timeout", "5", "--graceful-timeout", "2")
    assert _decide(port, decision)[0].json()["decision"] == "allow"

    stalled = _stall(port, decision["token"])
    try:
        assert _connections_to(port) >= SLOW_CLIENTS  # what the front spares gunicorn
        with pytest.raises(requests.Timeout):
            _decide(port, decision)
    finally:
        for sock in stalled:
            sock.close()
