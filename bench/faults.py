"""Fault benchmark: a production-like deployment on loopback under load, one fault at a time.

    .venv/bin/python bench/faults.py                    # every fault, about 25 minutes on 2 cores
    .venv/bin/python bench/faults.py --quick            # short load per fault (a smoke run)
    .venv/bin/python bench/faults.py --only postgres-cut --only redis-pause
    .venv/bin/python bench/faults.py --help

It builds, with real processes: PostgreSQL (its own database ``console_bench_faults`` on the
machine's server, reached through a TCP relay that can be cut, console/testing/tcp_relay.py), a
Redis server of its own (cache and Celery broker, no persistence), gunicorn with
docs/deploy/gunicorn.conf.py behind nginx with docs/deploy/nginx-console.conf (ports changed),
one Celery prefork worker consuming every queue, and Celery beat with the shipped schedules
(sweeps, replays, requeues). Every process runs the production settings (``CONSOLE_ENV=production``).

Decision load (people who must be allowed, and people who must be denied: revoked session tokens,
deactivated people, people no policy lets in, unknown e-mails) and telemetry ingest load (small
batches answered 200; a sender that retries on 503 or a timeout, as log shippers do) run
throughout. Then each fault in turn: Redis restarted without its data, Redis paused (SIGSTOP),
PostgreSQL cut, a gunicorn worker SIGKILLed, the Celery worker SIGKILLed mid-batch (a large 202
batch) and mid-rescore (and restarted, as its supervisor would), a gzip bomb, two slow-body
clients. Per fault it prints decisions answered / logged / allowed without a check, telemetry
rows accepted / stored / scored, peak web and Celery worker memory, and the time to recovery,
each beside its target. It measures; it asserts nothing. bench/README.md explains each figure.

Everything it starts is stopped, and its database dropped, when it ends (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.testing.redis_server import RedisServer  # noqa: E402
from console.testing.serving import (  # noqa: E402
    DEPLOY,
    Processes,
    children,
    production_env,
    rss_bytes,
    start_gunicorn,
    start_nginx,
)
from console.testing.tcp_relay import TcpRelay  # noqa: E402

FAULTS = {
    "redis-restart": "Redis killed and restarted without its data",
    "redis-pause": "Redis paused (SIGSTOP) for {fault_seconds:.0f} s",
    "postgres-cut": "PostgreSQL cut for {fault_seconds:.0f} s (every connection closed, new ones refused)",
    "web-worker-kill": "one gunicorn worker SIGKILLed",
    "celery-kill-batch": "the Celery worker SIGKILLed while it stores a large 202 batch, then restarted",
    "celery-kill-rescore": "the Celery worker SIGKILLed during a full rescore, then restarted",
    "gzip-bomb": "a gzip bomb (250 MiB of inflated body in ~250 KB) at the ingest API",
    "slow-clients": "two clients that declare a 1,000-byte decision body, send 10 bytes and stall",
}
JOB_FAULTS = ("celery-kill-batch", "celery-kill-rescore")
TARGET_RECOVERY = 60.0
TARGET_WEB_RSS = 300_000_000  # bytes; printed in MB of 10^6 bytes like every figure
DOMAIN = "faults.example"
BENCH_SECRET_KEY = "bench-faults-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
BENCH_FERNET_KEY = "p3aZzrj0f5P6mYbJdC5D0dI9bU5cN0wq3c7hY6v2yJQ="
MUST_DENY = ("revoked token", "deactivated person", "outsider", "unknown e-mail")
HOSTS = ("chatgpt.com", "claude.ai", "github.com", "slack.com", "docs.google.com", "zoom.us")


@dataclasses.dataclass(frozen=True)
class Profile:
    before: float  # load before each fault (seconds)
    after: float  # at least this much load after it
    fault_seconds: float  # pause and cut length
    limit: float  # give up waiting for recovery after this long
    people: int  # scored people (the rescore's size; telemetry is about them)
    members: int  # people the decision load allows
    big_batch_rows: int  # the 202 batch the Celery worker is killed in
    ingest_rows: int  # rows per small batch


FULL = Profile(before=10, after=20, fault_seconds=10, limit=600, people=100_000, members=200,
               big_batch_rows=40_000, ingest_rows=100)
QUICK = Profile(before=3, after=6, fault_seconds=5, limit=120, people=20_000, members=40,
                big_batch_rows=15_000, ingest_rows=50)


def say(text: str = "") -> None:
    print(text, flush=True)


def now() -> float:
    return time.monotonic()


# --- The deployment ------------------------------------------------------------------------------


class Deployment:
    """The processes and their wiring. The benchmark's own process (Django set up against the
    database directly, not through the relay) seeds and reads the results."""

    def __init__(self, tmp: Path, db_name: str, postgres: tuple[str, int]) -> None:
        self.tmp = tmp
        self.db_name = db_name
        self.postgres = postgres
        self.processes = Processes(tmp)
        self.redis = RedisServer()
        self.relay = TcpRelay(postgres)
        self.env: dict[str, str] = {}
        self.gunicorn: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.port = 0
        self.workers_started = 0

    def prepare(self) -> None:
        import psycopg
        from psycopg import sql

        host, port = self.postgres
        with psycopg.connect(f"postgresql://postgres@{host}:{port}/postgres", autocommit=True) as conn:
            name = sql.Identifier(self.db_name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        self.redis.start()
        self.relay.start()
        common = {
            "CACHE_KEY_PREFIX": "faults",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or BENCH_SECRET_KEY,
            "FIELD_ENCRYPTION_KEYS": os.environ.get("FIELD_ENCRYPTION_KEYS") or BENCH_FERNET_KEY,
        }
        self.env = production_env(
            database_url=f"postgres://postgres@127.0.0.1:{self.relay.port}/{self.db_name}",
            cache_url=f"{self.redis.url}/0", broker_url=f"{self.redis.url}/1", var_dir=self.tmp / "var",
            secret_key=common["SECRET_KEY"], field_encryption_keys=common["FIELD_ENCRYPTION_KEYS"],
            CACHE_KEY_PREFIX=common["CACHE_KEY_PREFIX"],
        )
        # This process: the same settings, but the database directly (it measures through the cut).
        os.environ.update(self.env | {"DATABASE_URL": f"postgres://postgres@{host}:{port}/{self.db_name}"})

    def start_serving(self) -> None:
        self.gunicorn, upstream, _ = start_gunicorn(self.processes, self.env, "--config",
                                                    str(DEPLOY / "gunicorn.conf.py"))
        _, self.port = start_nginx(self.processes, upstream)

    def start_worker(self) -> None:
        """One prefork worker consuming every queue, in a process group of its own (a kill takes
        the main process and its pool together, as a machine or container going away would)."""
        self.workers_started += 1
        self.worker, _ = self.processes.start(f"celery-worker-{self.workers_started}", [
            sys.executable, "-m", "celery", "-A", "console", "worker", "--pool", "prefork", "--concurrency", "3",
            "-Q", "default,ingest,scoring", "-n", f"faults{self.workers_started}@%h", "--without-gossip",
            "--without-mingle", "-l", "warning",
        ], self.env, start_new_session=True)

    def start_beat(self) -> None:
        self.processes.start("celery-beat", [
            sys.executable, "-m", "celery", "-A", "console", "beat", "-l", "warning",
            "--pidfile", str(self.tmp / "beat.pid"),
        ], self.env)

    def kill_worker(self) -> None:
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)

    def web_workers(self) -> list[int]:
        return children(self.gunicorn.pid) if self.gunicorn is not None else []

    def celery_pids(self) -> list[int]:
        if self.worker is None or self.worker.poll() is not None:
            return []
        return [self.worker.pid, *children(self.worker.pid)]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.redis.thaw()
        if self.worker is not None and self.worker.poll() is None:
            try:
                os.killpg(self.worker.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.processes.stop_all()
        for process, _ in self.processes.started:  # pool processes of killed workers, if any
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.relay.close()
        self.redis.close()
        if "django.db" in sys.modules:  # set up: its connections hold the database
            from django.db import connections

            connections.close_all()
        import psycopg
        from psycopg import sql

        host, port = self.postgres
        with psycopg.connect(f"postgresql://postgres@{host}:{port}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.db_name)))


# --- Seeding -------------------------------------------------------------------------------------


@dataclasses.dataclass
class World:
    app_aud: str
    decide_token: str
    telemetry_token: str
    members: list[str]
    revoked_tokens: list[str]
    deactivated: list[str]
    outsiders: list[str]
    people: list[str]  # telemetry is about these people (the rescored ones)
    admin_email: str


def seed(deployment: Deployment, profile: Profile) -> World:
    import django
    import requests

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from accounts.models import Group, User
    from accounts.services.people import user_deactivate
    from console.access import services as access
    from console.access.models import AccessSession
    from risk.behaviours import REGISTRY
    from risk.models import BehaviourConfig
    from risk.services import configuration, sources

    admin = User.objects.create_user(f"faults-admin@{DOMAIN}", full_name="Faults Admin", role="super_admin")
    unusable = make_password(None)
    members = [f"member{n:04}@{DOMAIN}" for n in range(profile.members)]
    revoked = members[-20:]
    leavers = [f"leaver{n:02}@{DOMAIN}" for n in range(10)]
    outsiders = [f"outsider{n:02}@{DOMAIN}" for n in range(20)]
    User.objects.bulk_create([User(email=email, full_name=email.split("@")[0], password=unusable)
                              for email in members + leavers + outsiders])
    group = Group.objects.create(name="Engineering")
    group.members.add(*User.objects.filter(email__in=members + leavers))
    app = access.application_create(actor=admin, name="Wiki", type="self_hosted", domain=f"wiki.{DOMAIN}",
                                    session_seconds=7 * 86400)
    policy = access.policy_create(actor=admin, name="Engineers", action="allow",
                                  rules={"include": [{"type": "group", "values": [group.pk]}]})
    access.application_set_policies(actor=admin, application=app, policy_ids=[policy.pk])
    _, decide_token = access.api_token_create(actor=admin, name="edge proxy", scopes=["access:decide"])
    _, telemetry_token = sources.telemetry_source_create(actor=admin, name="gateway", kind="gateway_http")
    configuration.ensure_configs()
    BehaviourConfig.objects.update(enabled=True)

    # The people telemetry is about and the rescore goes over, with risk events of their own.
    User.objects.bulk_create([User(email=f"person{n:06}@{DOMAIN}", full_name=f"Person {n}", password=unusable)
                              for n in range(profile.people)], batch_size=5000)
    people = list(User.objects.filter(email__startswith="person").order_by("pk").values_list("pk", "email"))
    keys = sorted(REGISTRY)
    rng = random.Random(7)
    at = datetime.now(UTC)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy("COPY risk_userrisk (user_id, level, changed_at, compromised_by_email, compromised_reason) "
                      "FROM STDIN") as copy:
            for pk, _ in people:
                copy.write_row((pk, 0, at, "", ""))
        n = 0
        with raw.copy("COPY risk_riskevent (user_id, behaviour, level, at, detected_at, source_kind, source_id, "
                      "summary, details, dedupe_key) FROM STDIN") as copy:
            for pk, _ in people:
                for _ in range(rng.randint(1, 5)):
                    key = rng.choice(keys)
                    copy.write_row((pk, key, int(REGISTRY[key].default_level),
                                    at - timedelta(minutes=rng.randint(1, 60 * 24 * 20)), at, "gateway_http", n,
                                    "seeded", "{}", f"faults:{n}"))
                    n += 1

    # Sessions and tokens through the served API (the web processes cache what they saw), then
    # revoke some and deactivate the leavers: from now on a working check denies them.
    deployment.start_serving()
    tokens = []
    for email in members[:20] + leavers + revoked:
        answer = requests.post(deployment.url("/api/v1/access/decide"), timeout=30,
                               json={"application": app.aud, "user": {"email": email}},
                               headers={"Authorization": f"Bearer {decide_token}"}).json()
        if answer["decision"] != "allow":
            raise RuntimeError(f"seeding: {email} was not allowed: {answer}")
        if email in revoked:
            tokens.append(answer["token"])
    for session in AccessSession.objects.filter(user__email__in=revoked):
        access.session_revoke(actor=admin, session=session)
    for user in User.objects.filter(email__in=leavers):
        user_deactivate(actor=admin, user=user)
    return World(app_aud=app.aud, decide_token=decide_token, telemetry_token=telemetry_token,
                 members=members[:-20], revoked_tokens=tokens, deactivated=leavers, outsiders=outsiders,
                 people=[email for _, email in people], admin_email=admin.email)


# --- Load ----------------------------------------------------------------------------------------


class Phase:
    """The name of the fault the load is under now (the warm-up is ``start``)."""

    name = "start"


@dataclasses.dataclass
class Answer:
    phase: str
    kind: str
    ip: str
    started: float
    finished: float
    decision: str  # allow / deny, or "" when unanswered (timeout, 5xx from nginx)
    reason: str
    reference: str = ""  # the request_id of a fail-closed answer (its log entry names it)


class DecisionLoad:
    def __init__(self, deployment: Deployment, world: World, threads: int = 3, pause: float = 0.01) -> None:
        import requests

        self.url = deployment.url("/api/v1/access/decide")
        self.world = world
        self.pause = pause
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.numbers = itertools.count(1)
        self.threads = [threading.Thread(target=self.run, args=(n, requests.Session()), daemon=True)
                        for n in range(threads)]

    def body(self, kind: str, rng: random.Random) -> dict:
        world = self.world
        base = {"application": world.app_aud}
        if kind == "allowed person":
            return base | {"user": {"email": rng.choice(world.members)}}
        if kind == "revoked token":
            return base | {"token": rng.choice(world.revoked_tokens)}
        if kind == "deactivated person":
            return base | {"user": {"email": rng.choice(world.deactivated)}}
        if kind == "outsider":
            return base | {"user": {"email": rng.choice(world.outsiders)}}
        return base | {"user": {"email": f"nobody{rng.randrange(10**9)}@{DOMAIN}"}}

    def run(self, offset: int, session) -> None:
        import requests

        rng = random.Random(offset)
        kinds = ["allowed person"] * 4 + list(MUST_DENY)
        headers = {"Authorization": f"Bearer {self.world.decide_token}"}
        while not self.stop.is_set():
            kind = rng.choice(kinds)
            number = next(self.numbers)
            ip = f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
            phase = Phase.name
            started = now()
            decision = reason = reference = ""
            try:
                response = session.post(self.url, json=self.body(kind, rng) | {"ip": ip}, headers=headers, timeout=30)
                if response.status_code == 200:
                    body = response.json()
                    decision, reason = body.get("decision", ""), body.get("reason", "")
                    reference = body.get("request_id") or ""
                else:
                    reason = f"HTTP {response.status_code}"
            except (requests.RequestException, ValueError) as exc:
                reason = exc.__class__.__name__
                session = requests.Session()
            with self.lock:
                self.answers.append(Answer(phase, kind, ip, started, now(), decision, reason, reference))
            time.sleep(self.pause)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def snapshot(self) -> list[Answer]:
        with self.lock:
            return list(self.answers)


class IngestLoad:
    """A log shipper: batches of ``rows`` Gateway HTTP rows, sent again after a 503, a timeout or
    a refused connection until answered 200 or 202 (the rows are then *accepted*). Each row has a
    URL naming its phase, which is how the results find it."""

    def __init__(self, deployment: Deployment, world: World, rows: int, interval: float = 1.0) -> None:
        self.url = deployment.url("/api/v1/telemetry/gateway_http")
        self.world = world
        self.rows = rows
        self.interval = interval
        self.accepted: dict[str, list[tuple[float, list[str]]]] = defaultdict(list)  # phase → (when, urls)
        self.rejected = 0
        self.retries = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sequence = itertools.count(1)
        self.rng = random.Random(3)
        self.thread = threading.Thread(target=self.run, daemon=True)

    def make(self, phase: str, count: int) -> tuple[bytes, list[str]]:
        lines, urls = [], []
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for _ in range(count):
            seq = next(self.sequence)
            host = self.rng.choice(HOSTS)
            url = f"https://{host}/{phase}/{seq}"
            urls.append(url)
            lines.append(json.dumps({
                "RequestID": f"faults-{seq:012d}", "Datetime": stamp, "Email": self.rng.choice(self.world.people),
                "HTTPHost": host, "URL": url, "HTTPMethod": "POST", "HTTPStatusCode": 200, "Action": "allow",
                "ApplicationNames": [host.split(".")[-2].title()], "CategoryNames": ["Artificial Intelligence"],
                "SourceIP": f"203.0.113.{self.rng.randint(1, 254)}", "SourceIPCountryCode": "US",
                "DeviceID": f"dev-{self.rng.randint(1, 500)}", "UserAgent": "Mozilla/5.0 (faults)",
            }))
        return ("\n".join(lines) + "\n").encode(), urls

    def send(self, phase: str, body: bytes, urls: list[str], *, expect_queued: bool = False,
             give_up: Callable[[], bool] = lambda: False) -> tuple[int, dict]:
        """Send until accepted; returns the status and the answer ((0, {}) if it gave up)."""
        import requests

        headers = {"Authorization": f"Bearer {self.world.telemetry_token}", "Content-Type": "application/x-ndjson"}
        while not give_up():
            try:
                response = requests.post(self.url, data=body, headers=headers, timeout=60)
            except requests.RequestException:
                self.retries["no answer"] += 1
                time.sleep(1)
                continue
            if response.status_code in (200, 202):
                answer = response.json()
                with self.lock:
                    self.rejected += answer.get("rejected_count", 0)
                    self.accepted[phase].append((now(), urls))
                return response.status_code, answer
            self.retries[f"HTTP {response.status_code}"] += 1
            time.sleep(1)  # Retry-After says 30; a shipper with a short backoff tests recovery harder
        return 0, {}

    def run(self) -> None:
        while not self.stop.is_set():
            started = now()
            phase = Phase.name
            body, urls = self.make(phase, self.rows)
            self.send(phase, body, urls, give_up=self.stop.is_set)
            self.stop.wait(max(0.0, self.interval - (now() - started)))

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=120)

    def urls(self, phase: str, until: float | None = None) -> list[str]:
        with self.lock:
            return [url for when, urls in self.accepted[phase] if until is None or when <= until for url in urls]


class Memory:
    """Peak resident memory per phase: of any one gunicorn worker, of any one Celery process."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.web: Counter = Counter()
        self.celery: Counter = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.25):
            phase = Phase.name
            for pid in self.deployment.web_workers():
                self.web[phase] = max(self.web[phase], rss_bytes(pid))
            for pid in self.deployment.celery_pids():
                self.celery[phase] = max(self.celery[phase], rss_bytes(pid))

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


# --- Reading the results -------------------------------------------------------------------------


def telemetry_state(phase: str, urls: list[str]) -> tuple[int, int]:
    """(stored, scored) among the accepted rows ``urls`` of ``phase``: stored = in the events
    table; scored = stored and no PendingDetection left that names them."""
    from risk.models import GatewayHttpEvent, PendingDetection

    wanted = set(urls)
    stored = {pk for pk, url in GatewayHttpEvent.objects.filter(url__contains=f"/{phase}/").values_list("pk", "url")
              if url in wanted}
    pending: set[int] = set()
    for ids in PendingDetection.objects.filter(source_kind="gateway_http").values_list("event_ids", flat=True):
        pending.update(ids)
    return len(stored), len(stored - pending)


class Logged:
    """What the Access log holds: entries by request IP address (each request of the load has its
    own), and the references of fail-closed entries (``internal error (reference …)``), which
    is how an answer that failed before its body was read (so without IP or e-mail) is found."""

    def __init__(self) -> None:
        from console.access.models import AccessLogEntry

        self.ips = Counter(str(ip) for ip in AccessLogEntry.objects.filter(ip__startswith="10.").values_list(
            "ip", flat=True).iterator(chunk_size=20000))
        self.references = Counter(
            reason.removeprefix("internal error (reference ").rstrip(")")
            for reason in AccessLogEntry.objects.filter(reason__startswith="internal error (reference ").values_list(
                "reason", flat=True).iterator(chunk_size=20000))

    def count(self, answer: Answer) -> int:
        return self.ips[answer.ip] or (self.references[answer.reference] if answer.reference else 0)

    def without_details(self, answer: Answer) -> bool:
        """Logged, but only by its reference (no IP, e-mail or application in the entry)."""
        return not self.ips[answer.ip] and bool(answer.reference and self.references[answer.reference])


@dataclasses.dataclass
class Result:
    fault: str
    note: str = ""
    decision_recovery: float | None = 0.0
    telemetry_recovery: float | None = 0.0
    job_recovery: float | None = None  # the batch or rescore the fault hit
    latency_max: float = 0.0  # slowest decision answered during the fault window


def bad_for_allowed(answer: Answer) -> bool:
    return answer.kind == "allowed person" and answer.decision != "allow"


def wait_for_recovery(fault: str, fault_end: float, load: DecisionLoad, ingest: IngestLoad, profile: Profile,
                      job_done: Callable[[], bool] | None) -> Result:
    """Load goes on until the decisions have been right for 5 s, every row accepted before the
    fault ended is stored and scored, and the job the fault hit is done, or until the limit."""
    result = Result(fault)
    snapshot = ingest.urls(fault, until=fault_end)
    telemetry_done_at = job_done_at = None
    deadline = fault_end + profile.limit
    while now() < deadline:
        time.sleep(1)
        t = now()
        if telemetry_done_at is None:
            stored, scored = telemetry_state(fault, snapshot)
            if stored == scored == len(snapshot):
                telemetry_done_at = t
        if job_done is not None and job_done_at is None and job_done():
            job_done_at = t
        answers = [a for a in load.snapshot() if a.finished > fault_end]
        last_bad = max((a.finished for a in answers if bad_for_allowed(a)), default=fault_end)
        decisions_ok = t - last_bad >= 5 and t - fault_end >= profile.after
        if decisions_ok and telemetry_done_at is not None and (job_done is None or job_done_at is not None):
            break
    answers = [a for a in load.snapshot() if a.finished > fault_end]
    last_bad = max((a.finished for a in answers if bad_for_allowed(a)), default=fault_end)
    result.decision_recovery = last_bad - fault_end if now() - last_bad >= 5 else None
    result.telemetry_recovery = telemetry_done_at - fault_end if telemetry_done_at is not None else None
    if job_done is not None:
        result.job_recovery = job_done_at - fault_end if job_done_at is not None else None
    return result


# --- The faults ----------------------------------------------------------------------------------


def slow_clients(deployment: Deployment, world: World, hold: float) -> float:
    head = (
        "POST /api/v1/access/decide HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {world.decide_token}\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    sockets = []
    for _ in range(2):
        sock = socket.create_connection(("127.0.0.1", deployment.port), timeout=5)
        sock.sendall(head + b'{"applicat')
        sockets.append(sock)
    time.sleep(hold)
    for sock in sockets:
        sock.close()
    return now()


def gzip_bomb() -> bytes:
    """250 MiB of spaces, gzip-compressed in a stream (never held inflated here)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1 << 20)
    parts = [packer.compress(block) for _ in range(250)]
    parts.append(packer.flush())
    return b"".join(parts)


def inject(fault: str, deployment: Deployment, world: World, ingest: IngestLoad, profile: Profile,
           ) -> tuple[float, str, Callable[[], bool] | None]:
    """Cause the fault; returns (when it ended, a note, a check that the job it hit is done)."""
    import requests

    if fault == "redis-restart":
        deployment.redis.restart()
        return now(), "empty Redis on the same port (cache, revocation markers and broker queues gone)", None
    if fault == "redis-pause":
        deployment.redis.freeze()
        time.sleep(profile.fault_seconds)
        deployment.redis.thaw()
        return now(), "", None
    if fault == "postgres-cut":
        closed = deployment.relay.cut()
        time.sleep(profile.fault_seconds)
        deployment.relay.restore()
        return now(), f"{closed} open database connections closed", None
    if fault == "web-worker-kill":
        victim = deployment.web_workers()[0]
        os.kill(victim, signal.SIGKILL)
        return now(), f"gunicorn worker {victim} killed; the master starts another", None
    if fault == "celery-kill-batch":
        from risk.models import IngestBatch

        body, urls = ingest.make(fault, profile.big_batch_rows)
        status, answer = ingest.send(fault, body, urls)
        batch = IngestBatch.objects.get(pk=answer["batch"])
        note = f"{profile.big_batch_rows:,} rows, {len(body) / 1e6:.1f} MB, answered {status}"
        deadline = now() + 120
        while now() < deadline:
            batch.refresh_from_db()
            if batch.status != IngestBatch.Status.QUEUED and (batch.rows_stored or batch.chunks_done):
                break
            time.sleep(0.05)
        note += f"; killed at {batch.status}, {batch.rows_stored:,} rows stored"
        deployment.kill_worker()
        deployment.start_worker()

        def done() -> bool:
            batch.refresh_from_db()
            return batch.status == IngestBatch.Status.DONE

        return now(), note, done
    if fault == "celery-kill-rescore":
        from accounts.models import User
        from risk.models import RescoreRun, UserRisk
        from risk.services import scores

        UserRisk.objects.update(level=0)  # every level changes again: the rescore has work to do
        run = scores.rescore_start(actor=User.objects.get(email=world.admin_email))
        deadline = now() + 120
        while now() < deadline:
            run.refresh_from_db()
            if run.status == RescoreRun.Status.RUNNING and run.chunks_done >= 1:
                break
            time.sleep(0.05)
        note = f"killed at {run.status}, chunk {run.chunks_done}/{run.chunks_total}"
        deployment.kill_worker()
        deployment.start_worker()

        def done() -> bool:
            run.refresh_from_db()
            return run.status == RescoreRun.Status.DONE

        return now(), note, done
    if fault == "gzip-bomb":
        bomb = gzip_bomb()
        answer = requests.post(deployment.url("/api/v1/telemetry/gateway_http"), data=bomb, timeout=120, headers={
            "Authorization": f"Bearer {world.telemetry_token}", "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip"})
        return now(), f"{len(bomb) / 1024:.0f} KB body answered {answer.status_code}", None
    if fault == "slow-clients":
        return slow_clients(deployment, world, hold=max(profile.fault_seconds, 12)), "held 12 s or more", None
    raise ValueError(fault)


# --- Report --------------------------------------------------------------------------------------


def seconds(value: float | None, limit: float) -> str:
    return f"> {limit:.0f} s" if value is None else f"{value:.1f} s"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def mb(value: int) -> str:
    return f"{value / 1e6:,.0f} MB"


def report(results: list[Result], load: DecisionLoad, ingest: IngestLoad, memory: Memory, profile: Profile,
           description: dict[str, str]) -> None:
    logged = Logged()
    answers = load.snapshot()
    rows = []
    say()
    say("== Per fault " + "=" * 80)
    for result in results:
        mine = [a for a in answers if a.phase == result.fault]
        answered = [a for a in mine if a.decision]
        logged_count = sum(1 for a in answered if logged.count(a) >= 1)
        twice = sum(1 for a in mine if logged.count(a) > 1)
        bare = sum(1 for a in answered if logged.without_details(a))
        wrongly = sum(1 for a in answered if a.kind in MUST_DENY and a.decision == "allow")
        closed = sum(1 for a in answered if a.kind == "allowed person" and a.decision == "deny")
        unanswered = len(mine) - len(answered)
        urls = ingest.urls(result.fault)
        stored, scored = telemetry_state(result.fault, urls)
        recovery = [result.decision_recovery, result.telemetry_recovery]
        if result.fault in JOB_FAULTS:
            recovery.append(result.job_recovery)
        worst = None if any(value is None for value in recovery) else max(recovery)
        web, celery = memory.web[result.fault], memory.celery[result.fault]
        say()
        say(f"-- {result.fault}: {description[result.fault]}")
        if result.note:
            say(f"   ({result.note})")
        say(f"   decisions  answered {len(answered):,} · logged {logged_count:,} "
            f"({len(answered) - logged_count:,} lost, {twice} twice; target 0 lost: "
            f"{verdict(logged_count == len(answered) and not twice)}) · allowed without a check {wrongly} "
            f"(target 0: {verdict(not wrongly)})")
        if bare:
            say(f"              {bare} of them logged without IP, e-mail or application (failed closed before the "
                f"request was read; found by their reference)")
        say(f"              fail-closed denials of allowed people {closed:,} · unanswered (timeout, 5xx) "
            f"{unanswered:,} · slowest answer {max((a.finished - a.started for a in mine), default=0):.2f} s")
        say(f"   telemetry  rows accepted {len(urls):,} · stored {stored:,} ({len(urls) - stored:,} lost; target 0: "
            f"{verdict(stored == len(urls))}) · scored {scored:,} ({len(urls) - scored:,} unscored; target 0: "
            f"{verdict(scored == len(urls))})")
        say(f"   memory     web worker peak {mb(web)} (target < 300 MB: {verdict(web < TARGET_WEB_RSS)}) · "
            f"Celery process peak {mb(celery)}")
        job = f" · job finished {seconds(result.job_recovery, profile.limit)}" if result.fault in JOB_FAULTS else ""
        say(f"   recovery   decisions {seconds(result.decision_recovery, profile.limit)} · telemetry stored and "
            f"scored {seconds(result.telemetry_recovery, profile.limit)}{job} → "
            f"{seconds(worst, profile.limit)} "
            f"(target < 60 s: {verdict(worst is not None and worst < TARGET_RECOVERY)})")
        rows.append((result.fault, len(answered), len(answered) - logged_count, wrongly, len(urls), len(urls) - stored,
                     len(urls) - scored, web, celery, worst))
    say()
    say("== Summary (targets: 0 lost, 0 unscored, 0 allowed without a check, recovery < 60 s, "
        "web worker < 300 MB) ==")
    say(f"{'fault':<22}{'answered':>9}{'unlogged':>9}{'allowed!':>9}{'rows':>8}{'unstored':>9}{'unscored':>9}"
        f"{'web MB':>8}{'celery MB':>10}{'recovery':>10}")
    for fault, answered, unlogged, wrongly, accepted, unstored, unscored, web, celery, worst in rows:
        say(f"{fault:<22}{answered:>9,}{unlogged:>9,}{wrongly:>9,}{accepted:>8,}{unstored:>9,}{unscored:>9,}"
            f"{web / 1e6:>8,.0f}{celery / 1e6:>10,.0f}{seconds(worst, profile.limit):>10}")
    say(f"ingest retries by the sender: {dict(ingest.retries) or 'none'}; rows rejected as bad: {ingest.rejected}")


def rollups_match(limit: float) -> tuple[int, int, int, float]:
    """Wait (up to ``limit``) for the scheduled usage rollup to take in every dirty day; returns
    (raw Gateway HTTP rows, requests in the rollup tables, dirty days left, seconds waited) for
    the days the benchmark's rows fall on."""
    from django.db.models import Sum

    from risk.models import GatewayHttpEvent
    from shadow_ai.usage.models import UsageAppDay, UsageDirtyDay, UsageHostDay

    started = now()
    while UsageDirtyDay.objects.exists() and now() - started < limit:
        time.sleep(2)
    days = list(GatewayHttpEvent.objects.dates("at", "day"))
    raw = GatewayHttpEvent.objects.filter(at__date__in=days).count()
    rolled = sum(model.objects.filter(day__in=days).aggregate(n=Sum("requests"))["n"] or 0
                 for model in (UsageAppDay, UsageHostDay))
    return raw, rolled, UsageDirtyDay.objects.count(), now() - started


def drain(load: DecisionLoad, ingest: IngestLoad, faults: list[str], limit: float) -> float:
    """Wait until every answered decision is logged and every accepted row stored and scored (or
    the limit); returns how long it took."""
    started = now()
    while now() - started < limit:
        logged = Logged()
        answered = [a for a in load.snapshot() if a.decision and a.phase in faults]
        rows_ok = all(len(set(ingest.urls(f))) == telemetry_state(f, ingest.urls(f))[1] for f in faults)
        if rows_ok and all(logged.count(a) for a in answered):
            break
        time.sleep(2)
    return now() - started


# --- Main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short load per fault and a smaller data set")
    parser.add_argument("--only", action="append", choices=list(FAULTS), metavar="FAULT",
                        help=f"run only this fault (repeatable): {', '.join(FAULTS)}")
    parser.add_argument("--limit", type=float, help="seconds to wait for recovery after each fault")
    parser.add_argument("--db-name", default="console_bench_faults")
    parser.add_argument("--postgres", default="127.0.0.1:5432", help="host:port of the PostgreSQL server")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (path printed)")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.limit:
        profile = dataclasses.replace(profile, limit=args.limit)
    faults = args.only or list(FAULTS)
    description = {name: text.format(fault_seconds=profile.fault_seconds) for name, text in FAULTS.items()}
    host, _, port = args.postgres.rpartition(":")
    tmp = Path(tempfile.mkdtemp(prefix="console-faults-"))
    deployment = Deployment(tmp, args.db_name, (host, int(port)))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    say(f"== Fault benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}, {'quick' if args.quick else 'full'} run)")
    say(f"   faults: {', '.join(faults)}; load {profile.before:.0f} s before each, ≥ {profile.after:.0f} s after, "
        f"recovery awaited up to {profile.limit:.0f} s")
    load = ingest = memory = None
    try:
        started = now()
        deployment.prepare()
        world = seed(deployment, profile)
        deployment.start_worker()
        deployment.start_beat()
        say(f"   deployment up in {now() - started:.0f} s: nginx :{deployment.port} → gunicorn gthread "
            f"({len(deployment.web_workers())} workers × 4 threads) → PostgreSQL via relay :{deployment.relay.port}; "
            f"Redis :{deployment.redis.port}; 1 Celery prefork worker (3 processes, every queue) + beat; "
            f"{profile.people:,} scored people, {len(world.members)} allowed people")
        load = DecisionLoad(deployment, world)
        ingest = IngestLoad(deployment, world, rows=profile.ingest_rows)
        memory = Memory(deployment)
        for part in (load, ingest, memory):
            part.start()
        time.sleep(profile.before)
        results = []
        for fault in faults:
            Phase.name = fault
            say(f"   {datetime.now(UTC):%H:%M:%S} {fault} ...")
            time.sleep(profile.before)
            fault_end, note, job_done = inject(fault, deployment, world, ingest, profile)
            result = wait_for_recovery(fault, fault_end, load, ingest, profile, job_done)
            result.note = note
            results.append(result)
        Phase.name = "end"
        time.sleep(2)
        load.finish()
        ingest.finish()
        memory.finish()
        waited = drain(load, ingest, faults, profile.limit)
        say(f"   load stopped; waited {waited:.0f} s for the last log entries and rows before counting")
        report(results, load, ingest, memory, profile, description)
        raw, rolled, dirty, waited = rollups_match(profile.limit)
        say(f"usage rollups: {raw:,} raw Gateway HTTP rows, {rolled:,} requests in the rollup tables, {dirty} days "
            f"still to roll up after {waited:.0f} s (target: equal: {verdict(raw == rolled and not dirty)})")
        return 0
    finally:
        for part in (load, ingest, memory):
            if part is not None:
                part.stop.set()
        deployment.close()
        if args.keep_logs:
            say(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
