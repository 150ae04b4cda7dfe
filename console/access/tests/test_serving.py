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
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from accounts.tests.factories import GroupFactory
from conftest import ROOT
from console.access import services
from console.testing.processes import stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.serving]

DEPLOY = ROOT / "docs" / "deploy"
# The attack used two connections; forty is well beyond the 2 × 4 threads of the documented
# workers.
SLOW_CLIENTS = 40
PROMPT = 2.0  # seconds within which the decision must be answered while the slow clients stall


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        pytest.fail("nginx is not installed: ./dev test installs it (apt-get install nginx)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """The processes a test starts, each with its log; all are stopped when the test ends."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
        log_path = self.tmp / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.started.append((process, log_path))
        return process, log_path

    def stop_all(self) -> None:
        for process, _ in reversed(self.started):
            stop(process)


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


def _wait_until_healthy(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited:\n{log.read_text()}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer on port {port}:\n{log.read_text()}")
        time.sleep(0.2)


def _gunicorn(processes: Processes, *options: str) -> tuple[int, Path]:
    """gunicorn serving console.wsgi with 2 workers on a free loopback port, on this test's database."""
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ) | {
        "DJANGO_SETTINGS_MODULE": "console.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DATABASE_CONN_MAX_AGE": "0",
    }
    env.pop("GUNICORN_CMD_ARGS", None)
    port = _free_port()
    process, log = processes.start("gunicorn", [
        sys.executable, "-m", "gunicorn", "console.wsgi", *options,
        "--bind", f"127.0.0.1:{port}", "--workers", "2",
    ], env)
    _wait_until_healthy(port, process, log)
    return port, log


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the documented nginx configuration should hold {old!r} once"
    return text.replace(old, new)


def _nginx_in_front(processes: Processes, upstream_port: int) -> int:
    """nginx with the documented site configuration, its ports changed, everything else in the
    test's temporary directory."""
    tmp = processes.tmp
    port = _free_port()
    site = (DEPLOY / "nginx-console.conf").read_text()
    site = _replace_once(site, "listen 8000;", f"listen 127.0.0.1:{port};")
    site = _replace_once(site, "server 127.0.0.1:8001;", f"server 127.0.0.1:{upstream_port};")
    (tmp / "console.conf").write_text(site)
    # The main configuration a Debian nginx would have, reduced to what a proxy needs; as root its
    # worker would run as nobody and could not use the temporary directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp / "nginx.conf").write_text(f"""{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/console.conf;
}}
""")
    process, log = processes.start("nginx", [
        _nginx(), "-c", str(tmp / "nginx.conf"), "-p", str(tmp), "-e", str(tmp / "error.log"), "-g", "daemon off;",
    ])
    _wait_until_healthy(port, process, log)
    return port


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
