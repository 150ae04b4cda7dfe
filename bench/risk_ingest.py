"""Risk scoring benchmark: telemetry ingest against raw COPY, a full rescore against one SQL
query, and event-to-revocation latency with a live worker.

    .venv/bin/python bench/risk_ingest.py                  # full run (1,000,000 events, 100,000 people)
    .venv/bin/python bench/risk_ingest.py --events 200000  # smaller
    .venv/bin/python bench/risk_ingest.py --help

One run drops and creates the PostgreSQL database ``console_bench_risk`` and prints:

1. events per second through ``POST /api/v1/telemetry/gateway_http`` (Django's test client, in
   process: parsing, validation, people lookup, COPY + INSERT … ON CONFLICT) for the generated
   events, in batches of ``--batch`` rows, next to PostgreSQL's own ``COPY`` of the same rows into a
   table of the same shape (same indexes and unique key): the physical limit on this machine;
2. seconds for a full rescore of ``--people`` scored people (``risk.services.scores.rescore_run``, chunked),
   once when every level changes and once when none does, next to one hand-written SQL query that
   computes the same levels;
3. end-to-end latency from POSTing an impossible-travel pair to the person's Access session being
   revoked, with a real worker on Redis (p50/p95 over ``--latency-runs`` people).

Targets (issue 6): ingest ≥ 30 % of raw COPY; full rescore within 2× of the single query;
event-to-revocation p95 under 1 s. Loopback only; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOSTS = ["chatgpt.com", "claude.ai", "gemini.google.com", "copilot.microsoft.com", "www.perplexity.ai",
         "github.com", "slack.com", "docs.google.com", "www.notion.so", "app.grammarly.com", "zoom.us",
         "outlook.office.com", "www.dropbox.com", "mail.google.com", "chat.mistral.ai"]
CATEGORIES = [["Artificial Intelligence"], ["Business"], ["Productivity"], ["Technology"], ["Chat"]]


def _recreate(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _setup(db_name: str, queue: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "console.settings_test"
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db_name}"
    os.environ["CELERY_DEFAULT_QUEUE"] = queue
    _recreate(db_name)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _people(count: int) -> list[tuple[int, str]]:
    from django.contrib.auth.hashers import make_password

    from accounts.models import User

    existing = User.objects.count()
    User.objects.bulk_create([
        User(email=f"person{i}@bench.example", full_name=f"Person {i}", password=make_password(None))
        for i in range(existing, count)
    ], batch_size=5000)
    return list(User.objects.order_by("pk").values_list("pk", "email")[:count])


def _rows(events: int, emails: list[str], seed: int = 11) -> list[dict]:
    rnd = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows = []
    for i in range(events):
        host = rnd.choice(HOSTS)
        row = {
            "RequestID": f"{i:016x}", "Datetime": (start + timedelta(seconds=i * 2.5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Email": rnd.choice(emails), "HTTPHost": host, "URL": f"https://{host}/api/{rnd.randint(1, 999)}",
            "HTTPMethod": rnd.choice(["GET", "GET", "POST"]), "HTTPStatusCode": 200, "Action": "allow",
            "ApplicationNames": [host.split(".")[-2].title()], "CategoryNames": rnd.choice(CATEGORIES),
            "SourceIP": f"203.0.113.{rnd.randint(1, 254)}", "SourceIPCountryCode": rnd.choice(["US", "DE", "GB"]),
            "DeviceID": f"dev-{rnd.randint(1, 5000)}", "UserAgent": "Mozilla/5.0 (bench)",
        }
        if rnd.random() < 0.02:
            row["UploadMatchedDlpProfiles"] = ["Credentials and Secrets"]
        rows.append(row)
    return rows


def bench_ingest(events: int, batch: int, people: list[tuple[int, str]]) -> dict:
    from django.conf import settings
    from django.db import connection
    from django.test import Client, override_settings

    from accounts.models import User
    from risk.ingest import parsing, storage
    from risk.models import GatewayHttpEvent
    from risk.services import sources

    settings.RISK_INGEST_SYNC_MAX_BYTES = 1 << 40  # measure the API's own work, in the request
    settings.RISK_INGEST_MAX_BYTES = 1 << 40
    admin = User.objects.create_user(email="bench-admin@bench.example", password=None, role="super_admin",
                                     full_name="Bench")
    _, token = sources.telemetry_source_create(actor=admin, name="bench", kind="gateway_http")
    rows = _rows(events, [e for _, e in people])
    bodies = [b"\n".join(json.dumps(r).encode() for r in rows[i:i + batch]) for i in range(0, events, batch)]
    del rows  # a server does not carry its clients' objects (they would slow its garbage collector)
    gc.collect()
    client = Client()
    started = time.perf_counter()
    stored = 0
    # Production keeps people in a per-process map between batches (the test settings do not).
    hot = override_settings(ACCESS_HOT_CACHE=True, ACCESS_CACHE_SECONDS=1.0)
    hot.enable()
    for body in bodies:
        answer = client.post("/api/v1/telemetry/gateway_http", body, content_type="application/x-ndjson",
                             HTTP_AUTHORIZATION=f"Bearer {token}")
        assert answer.status_code == 200, answer.content[:300]
        stored += answer.json()["stored"]
    api_seconds = time.perf_counter() - started
    hot.disable()
    assert stored == events == GatewayHttpEvent.objects.count(), (stored, events)

    # The same rows, parsed beforehand (COPY parses nothing), COPYed into a table of the same shape.
    resolver = storage.Resolver()
    parsed = [parsing.parse_gateway_http(r, resolver) for body in bodies for _, r in parsing.rows(body)]
    del bodies
    fields = storage._columns(GatewayHttpEvent)
    names = [f.column for f in fields]
    json_flags = [f.get_internal_type() == "JSONField" for f in fields]
    now = datetime.now(UTC)
    tuples = []
    for row in parsed:
        row |= {"source_id": None, "received_at": now}
        tuples.append([json.dumps(row.get(f.attname, f.get_default())) if flag else row.get(f.attname, f.get_default())
                       for f, flag in zip(fields, json_flags, strict=True)])
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (LIKE risk_gatewayhttpevent INCLUDING ALL)")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for i in range(0, len(tuples), batch):
            with raw.copy(f"COPY bench_copy ({', '.join(names)}) FROM STDIN") as copy:
                for values in tuples[i:i + batch]:
                    copy.write_row(values)
    copy_seconds = time.perf_counter() - started
    return {"events": events, "api_seconds": api_seconds, "copy_seconds": copy_seconds,
            "api_rate": events / api_seconds, "copy_rate": events / copy_seconds}


def bench_rescore(people_count: int, per_person: int) -> dict:
    from django.db import connection

    from risk import scoring
    from risk.behaviours import REGISTRY
    from risk.models import BehaviourConfig, RescoreRun, UserRisk
    from risk.services import configuration, scores

    people = _people(people_count)
    configuration.ensure_configs()
    BehaviourConfig.objects.update(enabled=True)
    keys = sorted(REGISTRY)
    rnd = random.Random(5)
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE risk_riskevent, risk_userrisk, risk_risklevelchange")
        raw = cursor.cursor
        with raw.copy("COPY risk_userrisk (user_id, level, changed_at, compromised_by_email, compromised_reason) "
                      "FROM STDIN") as copy:
            for pk, _ in people:
                copy.write_row((pk, 0, now, "", ""))
        n = 0
        with raw.copy("COPY risk_riskevent (user_id, behaviour, level, at, detected_at, source_kind, source_id, "
                      "summary, details, dedupe_key) FROM STDIN") as copy:
            for pk, _ in people:
                for _ in range(rnd.randint(1, per_person * 2 - 1)):
                    key = rnd.choice(keys)
                    copy.write_row((pk, key, int(REGISTRY[key].default_level),
                                    now - timedelta(minutes=rnd.randint(1, 60 * 24 * 60)), now, "gateway_http", n,
                                    "bench", "{}", f"bench:{n}"))
                    n += 1
    # What autovacuum would have done by the time a rescore runs (fresh COPYed rows otherwise get
    # their hint bits written by the first reader, which would bill the first rescore for it).
    connection.ensure_connection()
    autocommit = connection.connection.autocommit
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE risk_riskevent")
        cursor.execute("VACUUM ANALYZE risk_userrisk")
    connection.connection.autocommit = autocommit
    lookback = configuration.risk_settings().lookback_days

    def full() -> tuple[float, RescoreRun]:
        run = RescoreRun.objects.create(message="rescore")
        started = time.perf_counter()
        run = scores.rescore_run(run.pk)
        return time.perf_counter() - started, run

    cold_seconds, cold = full()
    warm_seconds, warm = full()
    single = scoring.CHANGED_SQL  # for the record: the rescore's statement, per chunk
    del single
    query = f"""
        SELECT u.user_id, CASE WHEN u.compromised_at IS NOT NULL THEN 3 ELSE COALESCE(a.top, 0) END
        FROM risk_userrisk u LEFT JOIN (
            SELECT e.user_id, MAX(c.level) AS top FROM risk_riskevent e
            JOIN risk_behaviourconfig c ON c.key = e.behaviour AND c.enabled
            JOIN risk_userrisk r ON r.user_id = e.user_id
            WHERE e.at >= now() - interval '{lookback} days' AND (r.last_reset_at IS NULL OR e.at > r.last_reset_at)
            GROUP BY e.user_id) a ON a.user_id = u.user_id
    """  # noqa: S608 (a number from our own settings)
    timings = []
    for _ in range(3):
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(query)
            levels = dict(cursor.fetchall())
            timings.append(time.perf_counter() - started)
    stored = dict(UserRisk.objects.values_list("user_id", "level"))
    assert stored == levels, "the rescore and the single query disagree"
    return {"people": len(people), "events": n, "cold_seconds": cold_seconds, "cold_changed": cold.users_changed,
            "warm_seconds": warm_seconds, "warm_changed": warm.users_changed, "query_seconds": min(timings),
            "chunks": cold.chunks_total}


def bench_latency(runs: int, queue: str) -> dict:
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from console.access import decisions
    from console.access import services as access
    from console.access.models import AccessSession
    from risk.models import BehaviourConfig
    from risk.services import sources

    admin = User.objects.get(email="bench-admin@bench.example")
    BehaviourConfig.objects.update(enabled=False)
    BehaviourConfig.objects.filter(key="impossible_travel").update(enabled=True)
    policy = access.policy_create(actor=admin, name="Not high risk", action="allow", rules={
        "include": [{"type": "everyone"}], "exclude": [{"type": "risk_score", "values": ["high"]}]})
    app = access.application_create(actor=admin, name="Finance", type="self_hosted", domain="finance.bench.example")
    access.application_set_policies(actor=admin, application=app, policy_ids=[policy.pk])
    _, token = sources.telemetry_source_create(actor=admin, name="latency", kind="access_requests")
    travellers = [User.objects.create_user(email=f"traveller{i}@bench.example", password=None, full_name="T")
                  for i in range(runs)]
    db = connection.settings_dict
    env = dict(os.environ) | {"DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db['NAME']}",
                              "CELERY_DEFAULT_QUEUE": queue, "DJANGO_SETTINGS_MODULE": "console.settings_test"}
    log = Path(tempfile.gettempdir()) / f"bench-risk-worker-{queue}.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "console", "worker", "-Q", queue, "--pool", "solo",
         "--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    client = Client()
    latencies = []
    try:
        time.sleep(3)  # the worker connects
        for person in travellers:
            session = decisions.decide(application=app, source="api", issuer="https://bench", user=person).session
            now = datetime.now(UTC).replace(microsecond=0)
            body = "\n".join(json.dumps(r) for r in (
                {"CreatedAt": (now - timedelta(minutes=50)).isoformat(), "Email": person.email, "Allowed": True,
                 "IPAddress": "85.214.132.117", "RayID": f"b-{uuid.uuid4().hex[:12]}"},
                {"CreatedAt": now.isoformat(), "Email": person.email, "Allowed": True, "IPAddress": "1.0.16.1",
                 "RayID": f"t-{uuid.uuid4().hex[:12]}"},
            ))
            started = time.perf_counter()
            answer = client.post("/api/v1/telemetry/access_requests", body, content_type="application/x-ndjson",
                                 HTTP_AUTHORIZATION=f"Bearer {token}")
            assert answer.status_code == 200
            deadline = started + 30
            while not AccessSession.objects.filter(pk=session.pk, revoked_at__isnull=False).exists():
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"no revocation within 30 s; worker log: {log}")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - started)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    latencies.sort()
    return {"runs": runs, "p50": statistics.median(latencies),
            "p95": latencies[max(0, round(0.95 * len(latencies)) - 1)], "max": latencies[-1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per POST (and per COPY)")
    parser.add_argument("--senders", type=int, default=20_000, help="people the events are about")
    parser.add_argument("--people", type=int, default=100_000, help="scored people for the rescore")
    parser.add_argument("--per-person", type=int, default=3, help="average risk events per person")
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--db-name", default="console_bench_risk")
    args = parser.parse_args(argv)
    queue = f"bench-risk-{uuid.uuid4().hex[:8]}"
    _setup(args.db_name, queue)

    print(f"== Risk ingest and scoring benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]})")
    people = _people(args.senders)
    ingest = bench_ingest(args.events, args.batch, people)
    share = ingest["api_rate"] / ingest["copy_rate"]
    print(f"\n1. Ingest of {ingest['events']:,} Gateway HTTP events in batches of {args.batch:,}")
    print(f"   through the API      {ingest['api_seconds']:8.1f} s  {ingest['api_rate']:>10,.0f} events/s")
    print(f"   raw COPY, same rows  {ingest['copy_seconds']:8.1f} s  {ingest['copy_rate']:>10,.0f} events/s")
    print(f"   API / COPY           {share:8.0%}   (target ≥ 30 %: {'met' if share >= 0.30 else 'NOT met'})")

    rescore = bench_rescore(args.people, args.per_person)
    ratio = rescore["cold_seconds"] / rescore["query_seconds"]
    warm_ratio = rescore["warm_seconds"] / rescore["query_seconds"]
    print(f"\n2. Full rescore of {rescore['people']:,} people with {rescore['events']:,} risk events "
          f"({rescore['chunks']} chunks)")
    print(f"   rescore, every level changes  {rescore['cold_seconds']:6.2f} s  ({rescore['cold_changed']:,} changed)")
    print(f"   rescore, nothing changes      {rescore['warm_seconds']:6.2f} s  ({rescore['warm_changed']:,} changed)")
    print(f"   one SQL query, same levels    {rescore['query_seconds']:6.2f} s")
    verdict = "met" if warm_ratio <= 2 else "NOT met"
    print(f"   rescore / query, steady state {warm_ratio:6.2f}×   (target ≤ 2×: {verdict})")
    print(f"   rescore / query, all change   {ratio:6.2f}×   (also writes {rescore['cold_changed']:,} scores and "
          f"as many history rows, which the query does not: {'within' if ratio <= 2 else 'beyond'} 2×)")

    latency = bench_latency(args.latency_runs, queue)
    print(f"\n3. Event to revocation, live worker, {latency['runs']} people")
    print(f"   p50 {latency['p50'] * 1000:6.0f} ms   p95 {latency['p95'] * 1000:6.0f} ms   "
          f"max {latency['max'] * 1000:6.0f} ms   (target p95 < 1 s: {'met' if latency['p95'] < 1 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
