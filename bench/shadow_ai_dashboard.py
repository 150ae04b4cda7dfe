"""Shadow AI dashboard benchmark: the usage rollup's rows per second, and the server time of the
main dashboard page next to the naive query that aggregates the raw Gateway logs for its main
chart.

    .venv/bin/python bench/shadow_ai_dashboard.py                      # full run: 10,000,000 rows
    .venv/bin/python bench/shadow_ai_dashboard.py --rows 500000        # small
    .venv/bin/python bench/shadow_ai_dashboard.py --keep               # the pages again, on the last run's data
    .venv/bin/python bench/shadow_ai_dashboard.py --help

One run drops and creates the PostgreSQL database ``console_bench_usage`` and:

1. creates ``--users`` people and loads the shipped application library with the demo's
   approval statuses (ChatGPT, DeepSeek and Character.AI Unapproved, Claude Approved, …);
2. generates ``--rows`` Gateway HTTP log rows over ``--days`` days in one ``INSERT … SELECT``
   from ``generate_series`` (each person has a handful of favourite applications out of ~60 AI
   and SaaS hosts; 3 % of requests go to hosts the library does not know; time-ordered, like
   logs), with the log table's secondary indexes dropped during the load and rebuilt after;
3. runs the usage rollup over every day (``rollup_run`` of a rebuild, as the worker would) and
   prints its rows per second;
4. requests the Shadow AI dashboard (``/shadow-ai/dashboard/ai/``, 30 days, every panel) through
   Django's test client ``--requests`` times with the result cache emptied before each request
   (cold: every panel computed from the rollups), then ``--requests`` times as people get it after
   a rollup run has warmed the cache, and prints p50/p95 of each;
5. runs the naive query for the page's main chart — AI application requests, uploads and
   downloads per day by approval status — straight on the raw logs (with the hostname → application
   map computed beforehand and not counted), best of three, checks it gives the chart's numbers,
   and prints the ratios.

Targets (issue 7): dashboard p95 under 150 ms, at least 20× faster than the naive query.
Loopback only; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# host: how many "slots" it gets among people's favourites (popularity).
HOSTS = {
    "chatgpt.com": 8, "chat.openai.com": 2, "claude.ai": 6, "gemini.google.com": 4, "copilot.microsoft.com": 2,
    "copilot.cloud.microsoft": 4, "www.perplexity.ai": 2, "chat.deepseek.com": 2, "chat.mistral.ai": 1, "poe.com": 1,
    "character.ai": 1, "www.midjourney.com": 1, "api.githubcopilot.com": 3, "cursor.com": 2, "www.notion.so": 4,
    "app.grammarly.com": 2, "www.deepl.com": 1, "huggingface.co": 1, "gamma.app": 1, "otter.ai": 1, "meta.ai": 1,
    "grok.com": 1, "manus.im": 1, "chat.qwen.ai": 1, "www.kimi.com": 1, "elevenlabs.io": 1, "suno.com": 1,
    "slack.com": 8, "app.slack.com": 2, "zoom.us": 4, "docs.google.com": 6, "mail.google.com": 6,
    "drive.google.com": 3, "calendar.google.com": 2, "github.com": 4, "outlook.office.com": 4, "teams.microsoft.com": 4,
    "www.dropbox.com": 2, "app.asana.com": 1, "trello.com": 1, "www.figma.com": 2, "www.canva.com": 1,
    "login.salesforce.com": 2, "app.hubspot.com": 1, "www.linkedin.com": 2, "www.youtube.com": 2, "twitter.com": 1,
    "www.atlassian.net": 1, "acme.atlassian.net": 2, "app.box.com": 1, "web.whatsapp.com": 1, "www.amazon.com": 1,
    "www.google.com": 4, "stackoverflow.com": 2, "www.reddit.com": 1, "app.zendesk.com": 1, "www.wikipedia.org": 1,
}
COUNTRIES = ["US"] * 10 + ["GB"] * 3 + ["DE"] * 2 + ["FR", "IN", "IN", "CA", "BR", "JP", "AU", "NL", "SG", ""]
STATUSES = {"chatgpt": "unapproved", "deepseek": "unapproved", "character-ai": "unapproved", "claude": "approved",
            "microsoft-365-copilot": "approved", "github-copilot": "approved", "notion": "approved",
            "slack": "approved", "zoom": "approved", "perplexity": "in_review", "cursor": "in_review",
            "grammarly": "in_review"}


def _recreate(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _setup(db_name: str, *, keep: bool) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "console.settings_test"
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db_name}"
    os.environ.setdefault("CELERY_DEFAULT_QUEUE", "bench-usage-unconsumed")
    if not keep:
        _recreate(db_name)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.SHADOW_AI_USAGE_CACHE_SECONDS = 3600  # the test settings turn the result cache off
    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]


def _library() -> None:
    from django.utils import timezone

    from shadow_ai.catalogue import sync_library
    from shadow_ai.models import Application

    sync_library()
    for key, status in STATUSES.items():
        Application.objects.filter(key=key).update(status=status, status_reason="Bench",
                                                   status_changed_at=timezone.now())


def _people(count: int) -> None:
    from django.contrib.auth.hashers import make_password

    from accounts.models import User

    password = make_password(None)
    User.objects.bulk_create([User(email=f"person{i}@bench.example", full_name=f"Person {i}", password=password)
                              for i in range(count)], batch_size=5000)
    User.objects.create_user(email="bench-admin@bench.example", password=None, role="super_admin", full_name="Bench")


GENERATE_SQL = """
INSERT INTO risk_gatewayhttpevent (
    event_key, at, email, user_id, received_at, device_id, device_name, host, url, http_method, http_status, action,
    policy_name, application_ids, application_names, category_ids, category_names, upload_dlp_profiles,
    download_dlp_profiles, dlp_match_count, blocked_file_name, blocked_file_reason, blocked_file_hash, source_ip,
    source_country, user_agent, bytes_sent, bytes_received)
SELECT 'b' || lpad(r.g::text, 10, '0'),
       %(start)s::timestamptz + (r.g - 1)::bigint * %(step)s * interval '1 microsecond',
       u.email, u.id, now(), 'dev-' || u.n, 'Laptop ' || u.n,
       CASE WHEN r.unknown THEN 'svc' || (r.pick %% 400) || '.internal.example' ELSE h.host END,
       '', CASE WHEN r.g %% 3 = 0 THEN 'POST' ELSE 'GET' END, 200,
       CASE WHEN r.g %% 97 = 0 THEN 'block' ELSE 'allow' END, '', '[]', '[]', '[]', '[]', '[]', '[]', 0, '', '', '',
       NULL, (%(countries)s::text[])[1 + (u.n * 7 + (r.g %% 11 = 0)::int) %% %(n_countries)s], '',
       (r.size * r.size * 40000)::bigint, (r.size2 * 150000)::bigint
FROM (
    SELECT g, (random() * %(users)s)::int %% %(users)s AS person, floor(power(random(), 1.7) * 6)::int AS fav,
           random() < 0.03 AS unknown, (random() * 1000000)::int AS pick, random() AS size, random() AS size2
    FROM generate_series(1, %(rows)s) g
) r
JOIN bench_person u ON u.n = r.person
JOIN bench_host h ON h.n = (u.n * 7919 + r.fav * 104729) %% %(slots)s
"""


def generate(rows: int, users: int, days: int) -> dict:
    from django.db import connection

    slots = [host for host, weight in HOSTS.items() for _ in range(weight)]
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    step = int(days * 86400 * 1_000_000 / rows)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'risk_gatewayhttpevent' "
                       "AND indexname NOT IN ('risk_gatewayhttpevent_pkey', 'risk_gatewayhttpevent_event_key_key')")
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("CREATE TEMP TABLE bench_host (n int PRIMARY KEY, host text)")
        cursor.executemany("INSERT INTO bench_host VALUES (%s, %s)", list(enumerate(slots)))
        cursor.execute("CREATE TEMP TABLE bench_person AS SELECT (row_number() OVER (ORDER BY id))::int - 1 AS n, "
                       "id, email FROM accounts_user WHERE email LIKE 'person%%@bench.example'")
        cursor.execute("CREATE UNIQUE INDEX ON bench_person (n)")
        cursor.execute("SELECT setseed(0.42)")
        started = time.perf_counter()
        cursor.execute(GENERATE_SQL, {"start": start, "step": step, "users": users, "rows": rows,
                                      "slots": len(slots), "countries": COUNTRIES, "n_countries": len(COUNTRIES)})
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE risk_gatewayhttpevent")
        indexed = time.perf_counter() - started
    return {"rows": rows, "load_seconds": loaded, "index_seconds": indexed, "start": start, "end": end}


def rollup(*, keep: bool) -> dict:
    from django.db import connection

    from shadow_ai.usage import services
    from shadow_ai.usage.models import UsageAppPersonDay, UsageRollupRun

    started = time.perf_counter()
    if keep:  # the rollups of the last run, as they are
        run = UsageRollupRun.objects.filter(kind=UsageRollupRun.Kind.REBUILD, status="done").latest("created_at")
    else:
        run = services.rollup_run(UsageRollupRun.objects.create(kind=UsageRollupRun.Kind.REBUILD).pk)
    wall = time.perf_counter() - started
    assert run.status == UsageRollupRun.Status.DONE, run.message
    with connection.cursor() as cursor:
        for table in ("shadow_ai_usageappday", "shadow_ai_usageapppersonday", "shadow_ai_usagepersonday",
                      "shadow_ai_usagedeviceday", "shadow_ai_usagecountryday", "shadow_ai_usagehostday"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    sizes = {"app_person_day": UsageAppPersonDay.objects.count()}
    # Re-rolling one day (what a late log costs) gives the same numbers.
    from shadow_ai.usage.models import UsageAppDay

    day = run.last_day - timedelta(days=1)
    before = list(UsageAppDay.objects.filter(day=day).order_by("application_id").values_list(
        "application_id", "requests", "users", "bytes_up"))
    services.mark_days([day])
    started = time.perf_counter()
    again = services.rollup_scheduled()
    one_day = time.perf_counter() - started
    after = list(UsageAppDay.objects.filter(day=day).order_by("application_id").values_list(
        "application_id", "requests", "users", "bytes_up"))
    assert before == after and again.days_done == 1
    return {"run": run, "wall": wall, "one_day": one_day, "one_day_rows": again.rows_read, **sizes}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered)) - 1)]


def dashboard(requests: int) -> dict:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from shadow_ai.usage import cache, services

    client = Client()
    admin = User.objects.get(email="bench-admin@bench.example")
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    from mfa.services import verification_record

    session = client.session  # the console asks admins for MFA: this session has passed it
    verification_record(session=session, user=admin, method="totp", authenticator="bench")
    session.save()
    url = "/shadow-ai/dashboard/ai/"
    assert client.get(url).status_code == 200  # warm up the process (templates, imports, connection)
    cold = []
    queries = 0
    for n in range(requests):
        cache.bump()  # every panel computed from the rollups
        if n == 0:
            with CaptureQueriesContext(connection) as seen:
                started = time.perf_counter()
                response = client.get(url)
                cold.append(time.perf_counter() - started)
            queries = len(seen.captured_queries)
        else:
            started = time.perf_counter()
            response = client.get(url)
            cold.append(time.perf_counter() - started)
        assert response.status_code == 200 and b'data-testid="chart-status-requests"' in response.content
    reset_queries()
    cache.bump()
    services.warm()  # what a rollup run does after it wrote
    warm = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        warm.append(time.perf_counter() - started)
        assert response.status_code == 200
    panel = _panel(client, requests)
    return {"cold_p50": statistics.median(cold), "cold_p95": _percentile(cold, 0.95), "cold_max": max(cold),
            "warm_p50": statistics.median(warm), "warm_p95": _percentile(warm, 0.95), "queries": queries,
            "html_bytes": len(response.content), "panel": panel}


def _panel(client, requests: int) -> dict:
    """The "people by approval status" panel, which the page loads after itself (htmx): distinct
    people per status per day over the per-person rollup."""
    from shadow_ai.usage import cache, services

    url = "/shadow-ai/usage/status-people/?range=30d&scope=ai"
    cold, warm = [], []
    for _ in range(requests):
        cache.bump()
        started = time.perf_counter()
        response = client.get(url)
        cold.append(time.perf_counter() - started)
        assert response.status_code == 200 and b"data-figure-json" in response.content
    cache.bump()
    services.warm()
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        warm.append(time.perf_counter() - started)
    return {"cold_p50": statistics.median(cold), "cold_p95": _percentile(cold, 0.95),
            "warm_p50": statistics.median(warm), "warm_p95": _percentile(warm, 0.95)}


NAIVE_SQL = """
SELECT (e.at AT TIME ZONE %(tz)s)::date AS day, a.status, COUNT(*), SUM(e.bytes_sent), SUM(e.bytes_received)
FROM risk_gatewayhttpevent e
JOIN bench_host_app m ON m.host = e.host
JOIN shadow_ai_application a ON a.id = m.app_id
WHERE e.at >= %(low)s AND e.at < %(high)s AND a.is_gen_ai
GROUP BY 1, 2
"""


def naive(repeats: int = 3) -> dict:
    from django.conf import settings
    from django.db import connection

    from shadow_ai.selectors import hostname_matcher
    from shadow_ai.usage import dashboard as panels
    from shadow_ai.usage import rollup as engine
    from shadow_ai.usage import runners

    period = panels.resolve_range("30d")
    low, _ = engine.day_bounds(period.start)
    _, high = engine.day_bounds(period.end)
    matcher = hostname_matcher()
    with connection.cursor() as cursor:  # the hostname → application map, computed beforehand (not timed)
        cursor.execute("SELECT DISTINCT host FROM risk_gatewayhttpevent")
        pairs = []
        for (host,) in cursor.fetchall():
            found = matcher.match(host)
            if found is not None:
                pairs.append((host, found.id))
        cursor.execute("CREATE TEMP TABLE bench_host_app (host text PRIMARY KEY, app_id bigint)")
        cursor.executemany("INSERT INTO bench_host_app VALUES (%s, %s)", pairs)
        cursor.execute("ANALYZE bench_host_app")
    timings = []
    for _ in range(repeats):
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(NAIVE_SQL, {"tz": settings.TIME_ZONE, "low": low, "high": high})
            found = cursor.fetchall()
            timings.append(time.perf_counter() - started)
    chart = runners.run(panels.dashboard_queries(period, "ai")["status_series"])
    expected = {}
    for day, status, requests, up, down in found:
        expected[(day, status)] = (requests, int(up), int(down))
    for n, day in enumerate(chart.days):
        for status in chart.requests:
            got = (chart.requests[status][n], chart.bytes_up[status][n], chart.bytes_down[status][n])
            assert got == expected.get((day, status), (0, 0, 0)), (day, status, got, expected.get((day, status)))
    return {"best": min(timings), "all": timings, "groups": len(found)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="Gateway HTTP log rows to generate")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=50, help="dashboard requests per measurement")
    parser.add_argument("--db-name", default="console_bench_usage")
    parser.add_argument("--keep", action="store_true",
                        help="reuse the data and rollups of the last run (measure the pages and the naive query)")
    args = parser.parse_args(argv)
    _setup(args.db_name, keep=args.keep)

    print(f"== Shadow AI dashboard benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]})")
    if args.keep:
        from risk.models import GatewayHttpEvent

        print(f"\n1. Data: kept from the last run ({GatewayHttpEvent.objects.count():,} Gateway HTTP log rows)")
    else:
        _people(args.users)
        _library()
        data = generate(args.rows, args.users, args.days)
        print(f"\n1. Data: {data['rows']:,} Gateway HTTP log rows over {args.days} days for {args.users:,} people")
        print(f"   generated in {data['load_seconds']:.1f} s ({data['rows'] / data['load_seconds']:,.0f} rows/s), "
              f"indexes rebuilt in {data['index_seconds']:.1f} s")

    done = rollup(keep=args.keep)
    run = done["run"]
    print(f"\n2. Usage rollup of every day ({run.days_done} days, {run.rows_read:,} log rows)"
          + (" (kept from the last run)" if args.keep else ""))
    print(f"   {run.seconds:8.1f} s rolling up  {run.rows_per_second:>12,.0f} rows/s   "
          f"({done['wall']:.1f} s with the run's bookkeeping and cache warming)")
    print(f"   re-rolling one day ({done['one_day_rows']:,} rows): {done['one_day']:.2f} s, same numbers")
    print(f"   person-per-application-per-day rows: {done['app_person_day']:,}")

    page = dashboard(args.requests)
    print(f"\n3. Dashboard page /shadow-ai/dashboard/ai/ (30 days, every panel), {args.requests} requests each, "
          f"Django test client")
    print(f"   cold (cache emptied before each request; {page['queries']} SQL queries)   "
          f"p50 {page['cold_p50'] * 1000:7.1f} ms   p95 {page['cold_p95'] * 1000:7.1f} ms   "
          f"max {page['cold_max'] * 1000:7.1f} ms")
    print(f"   warm (after a rollup run warmed it)                  "
          f"p50 {page['warm_p50'] * 1000:7.1f} ms   p95 {page['warm_p95'] * 1000:7.1f} ms")
    panel = page["panel"]
    print(f"   + the 'people by approval status' panel, loaded after the page: cold p50 "
          f"{panel['cold_p50'] * 1000:.1f} ms p95 {panel['cold_p95'] * 1000:.1f} ms, warm p50 "
          f"{panel['warm_p50'] * 1000:.1f} ms p95 {panel['warm_p95'] * 1000:.1f} ms")

    slow = naive()
    print("\n4. Naive query for the main chart (AI requests/uploads/downloads per day by status) on the raw rows")
    print(f"   best of {len(slow['all'])}: {slow['best']:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in slow['all'])}; "
          f"same numbers as the chart)")
    cold_ratio = slow["best"] / page["cold_p95"]
    warm_ratio = slow["best"] / page["warm_p95"]
    print("\nSummary")
    print(f"   dashboard p95 cold {page['cold_p95'] * 1000:.1f} ms, warm {page['warm_p95'] * 1000:.1f} ms "
          f"(target < 150 ms: cold {'met' if page['cold_p95'] < 0.150 else 'NOT met'}, "
          f"warm {'met' if page['warm_p95'] < 0.150 else 'NOT met'})")
    print(f"   naive query / dashboard p95: {cold_ratio:.0f}× cold, {warm_ratio:.0f}× warm "
          f"(target ≥ 20×: cold {'met' if cold_ratio >= 20 else 'NOT met'}, "
          f"warm {'met' if warm_ratio >= 20 else 'NOT met'})")
    print(f"   rollup: {run.rows_per_second:,.0f} rows/s; load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
