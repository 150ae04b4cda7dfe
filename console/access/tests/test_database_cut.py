"""PostgreSQL cut while the decision API is under load, with real processes.

gunicorn started with docs/deploy/gunicorn.conf.py (gthread, 2 workers) behind nginx running
docs/deploy/nginx-console.conf, on production settings (process caches and the spooled Access
log on), a Redis of the test's own, and the test's committed database reached through a TCP
relay (console/testing/tcp_relay.py) that the test cuts: every open connection is closed and
new ones are refused, as when PostgreSQL goes away. Decisions for people who must be allowed and
for people who must be denied (a revoked session's token, a deactivated person, someone no
policy lets in, an unknown e-mail) go on throughout. Each request carries its own IP address,
which the Access log records, so every answer can be matched with its log entry."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection

from accounts.services import people
from console.access import services
from console.access.models import AccessLogEntry, AccessSession
from console.testing.serving import (
    DEPLOY,
    NotInstalled,
    Processes,
    children,
    production_env,
    start_gunicorn,
    start_nginx,
)
from console.testing.tcp_relay import TcpRelay

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.serving]

MUST_DENY = ("revoked token", "deactivated person", "outsider", "unknown e-mail")
ANSWERS_DURING_CUT = 40  # answered decisions to see while PostgreSQL is away
CUT_SECONDS = 4.0  # and the cut lasts at least this long (past a few writer retries)


@dataclass
class Answer:
    kind: str
    ip: str
    started: float
    status: int
    decision: str
    reason: str
    reference: str  # the request_id of a fail-closed answer, which its log entry names


@dataclass
class Deployment:
    port: int
    relay: TcpRelay
    gunicorn: object
    token: str


@pytest.fixture
def deployment(tmp_path, own_redis, super_admin) -> Iterator[Deployment]:
    db = connection.settings_dict
    relay = TcpRelay((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))).start()
    processes = Processes(tmp_path)
    _, token = services.api_token_create(actor=super_admin, name="edge proxy", scopes=["access:decide"])
    env = production_env(
        database_url=f"postgres://{db['USER']}@127.0.0.1:{relay.port}/{db['NAME']}",
        cache_url=own_redis.url, broker_url=f"{own_redis.url}/1", var_dir=tmp_path / "var",
        secret_key=django_settings.SECRET_KEY,
        field_encryption_keys=",".join(django_settings.FIELD_ENCRYPTION_KEYS),
        CACHE_KEY_PREFIX=django_settings.CACHES["default"]["KEY_PREFIX"],  # the markers this process writes
    )
    try:
        gunicorn, upstream, _ = start_gunicorn(processes, env, "--config", str(DEPLOY / "gunicorn.conf.py"))
        try:
            _, port = start_nginx(processes, upstream)
        except NotInstalled as exc:
            pytest.fail(str(exc))
        yield Deployment(port=port, relay=relay, gunicorn=gunicorn, token=token)
    finally:
        processes.stop_all()
        relay.close()


def _decide(deployment: Deployment, body: dict, timeout: float = 30) -> requests.Response:
    return requests.post(
        f"http://127.0.0.1:{deployment.port}/api/v1/access/decide", data=json.dumps(body), timeout=timeout,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {deployment.token}"},
    )


class Load:
    """Threads that ask for decisions, round robin over the kinds, each request from an IP
    address of its own; every answer is kept."""

    def __init__(self, deployment: Deployment, bodies: dict[str, dict], threads: int = 4) -> None:
        self.deployment = deployment
        self.bodies = bodies
        self.answers: list[Answer] = []
        self.unanswered: list[str] = []  # IPs of requests that got no decision (timeout, 502)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, offset: int) -> None:
        kinds = list(self.bodies)
        for step in itertools.count(offset):
            if self._stop.is_set():
                return
            kind = kinds[step % len(kinds)]
            number = next(self._numbers)
            ip = f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
            started = time.monotonic()
            try:
                response = _decide(self.deployment, self.bodies[kind] | {"ip": ip})
                body = response.json() if response.headers.get("Content-Type", "").startswith(
                    "application/json") else {}
            except requests.RequestException:
                with self._lock:
                    self.unanswered.append(ip)
                continue
            with self._lock:
                if response.status_code == 200 and "decision" in body:
                    self.answers.append(Answer(kind, ip, started, 200, body["decision"], body["reason"],
                                               body.get("request_id") or ""))
                else:
                    self.unanswered.append(ip)

    def count(self, condition) -> int:
        with self._lock:
            return sum(1 for answer in self.answers if condition(answer))

    def wait_for(self, condition, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)


def test_decisions_fail_closed_while_postgresql_is_cut_and_every_answer_is_logged_once(
    deployment, make_engineers_wiki, employee, make_user, super_admin,
):
    wiki, _, engineering = make_engineers_wiki(session_seconds=3600)
    colleague = make_user(email="colleague@corp.example")
    leaver = make_user(email="leaver@corp.example")
    newcomer = make_user(email="newcomer@corp.example")  # never decided before the cut
    outsider = make_user(email="outsider@corp.example")
    engineering.members.add(colleague, leaver, newcomer)
    person = {"application": wiki.aud}

    # Before the cut: every answer is what a working check says; the web processes cache them.
    for _ in range(4):
        assert _decide(deployment, person | {"user": {"email": employee.email}}).json()["decision"] == "allow"
        assert _decide(deployment, person | {"user": {"email": leaver.email}}).json()["decision"] == "allow"
    colleague_answer = _decide(deployment, person | {"user": {"email": colleague.email}}).json()
    assert colleague_answer["decision"] == "allow"
    services.session_revoke(actor=super_admin, session=AccessSession.objects.get(user=colleague))
    people.user_deactivate(actor=super_admin, user=leaver)
    bodies = {
        "allowed person": person | {"user": {"email": employee.email}},
        "revoked token": person | {"token": colleague_answer["token"]},
        "deactivated person": person | {"user": {"email": leaver.email}},
        "outsider": person | {"user": {"email": outsider.email}},
        "unknown e-mail": person | {"user": {"email": "nobody@corp.example"}},
    }
    for kind in MUST_DENY:
        assert _decide(deployment, bodies[kind]).json()["decision"] == "deny", kind
    workers = children(deployment.gunicorn.pid)
    assert len(workers) == 2

    relay = deployment.relay
    with Load(deployment, bodies) as load:
        load.wait_for(lambda: load.count(lambda a: True) >= 50, "decisions before the cut")
        closed = relay.cut()
        cut_at = time.monotonic()
        assert closed > 0  # the web processes held database connections, now gone
        load.wait_for(lambda: load.count(lambda a: a.started > cut_at) >= ANSWERS_DURING_CUT
                      and time.monotonic() - cut_at >= CUT_SECONDS, "decisions during the cut")
        relay.restore()
        restored_at = time.monotonic()
        # Recovery without restarts: a decision that needs the database (a person no process
        # has seen) is answered allow again.
        deadline = time.monotonic() + 60
        while _decide(deployment, person | {"user": {"email": newcomer.email}}).json()["decision"] != "allow":
            assert time.monotonic() < deadline, "the decision API did not recover after PostgreSQL came back"
            time.sleep(0.2)
        load.wait_for(lambda: load.count(lambda a: a.started > restored_at and a.kind == "allowed person"
                                         and a.decision == "allow") >= 5, "allows after the recovery")

    during = [a for a in load.answers if cut_at <= a.started <= restored_at]
    assert len(during) >= ANSWERS_DURING_CUT
    # PostgreSQL really was away: decisions that needed it failed closed (logged as such).
    assert any("internal error" in a.reason for a in during)
    # No allow that a working check would deny, before, during or after the cut.
    wrongly_allowed = [a for a in load.answers if a.kind in MUST_DENY and a.decision != "deny"]
    assert wrongly_allowed == []
    # An allowed person is allowed, or denied because the check could not be made (failing closed).
    wrongly_denied = [a for a in load.answers
                      if a.kind == "allowed person" and a.decision != "allow" and "internal error" not in a.reason]
    assert wrongly_denied == []
    assert deployment.gunicorn.poll() is None and children(deployment.gunicorn.pid) == workers

    # Every answered decision reaches the Access log exactly once (the spools are stored after
    # the outage, by the writer threads' retries): found by the request's IP address, or, for an
    # answer that failed closed before its body was read (the API token check needs the
    # database too), by the reference its reason names.
    answered = {a.ip: a for a in load.answers}
    references = {a.reference: a for a in load.answers if a.reference}

    def logged() -> tuple[Counter, Counter]:
        by_ip = Counter(AccessLogEntry.objects.filter(ip__in=list(answered)).values_list("ip", flat=True))
        bare = AccessLogEntry.objects.filter(ip__isnull=True, reason__startswith="internal error (reference ")
        by_reference = Counter(reason.removeprefix("internal error (reference ").rstrip(")")
                               for reason in bare.values_list("reason", flat=True))
        return by_ip, by_reference

    def missing() -> list[Answer]:
        by_ip, by_reference = logged()
        return [a for a in answered.values() if not by_ip[a.ip] and not by_reference[a.reference]]

    deadline = time.monotonic() + 120
    while missing():
        assert time.monotonic() < deadline, f"{len(missing())} answered decisions never logged"
        time.sleep(0.5)
    by_ip, by_reference = logged()
    assert all(by_ip[a.ip] + by_reference[a.reference] == 1 for a in answered.values() if a.reference)
    assert max(by_ip.values()) == 1
    outcomes = dict(AccessLogEntry.objects.filter(ip__in=list(answered)).values_list("ip", "outcome"))
    assert {ip: answered[ip].decision for ip in outcomes} == outcomes
    assert all(references[reference].decision == "deny" for reference in by_reference if reference in references)
    # A request that got no answer (a client timeout, a 502) is logged at most once too.
    unanswered = Counter(AccessLogEntry.objects.filter(ip__in=load.unanswered).values_list("ip", flat=True))
    assert max(unanswered.values(), default=1) == 1


def test_the_relay_refuses_while_cut_and_carries_again_after():
    with TcpRelay(("127.0.0.1", int(connection.settings_dict["PORT"] or 5432))) as relay:
        import psycopg

        url = f"postgres://{connection.settings_dict['USER']}@127.0.0.1:{relay.port}/postgres"
        with psycopg.connect(url, connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert relay.cut() == 1
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=5)
        relay.restore()
        with psycopg.connect(url, connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
