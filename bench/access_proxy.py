"""Access through a real proxy: nginx with forward-auth against nginx straight to the application.

    .venv/bin/python bench/access_proxy.py                 # about a minute on 2 cores
    .venv/bin/python bench/access_proxy.py --seconds 20 --connections 16 --trials 30

One run starts, on loopback: its own Redis, a throwaway PostgreSQL database (``--db-name``),
gunicorn with docs/deploy/gunicorn.conf.py serving the console with production settings, and one
nginx holding three sites: the application (a static answer, the "upstream"), the same upstream
proxied straight, and the same upstream behind Access with the nginx configuration rendered from
the templates the docs print (console/access/proxy/configs/nginx.conf). Then it prints:

1. requests/s and p50/p99 latency through nginx + forward-auth and through nginx straight to the
   upstream, in the same run, with an established session (the application cookie of a person an
   Allow policy lets in: no MFA policy, which would read the person's verifications);
2. the forward-auth endpoint's own p50/p99 under that load, from gunicorn's access log (time
   inside gunicorn, per request);
3. revocation-to-refusal at the proxy: a client keeps requesting with its cookie while the
   session is revoked through the console's service; the time from the revocation's commit to
   the first answer that is not the application (the redirect to sign in), over ``--trials``.

The load generator is Python (``--processes`` processes × threads, keep-alive http.client): on a
small machine it competes with nginx and gunicorn for the same cores, so the straight path's rate
is a floor, not nginx's ceiling. Targets (issue 13): forward-auth ≥ 50 % of the direct rate; its
own p99 < 5 ms; revocation-to-refusal p95 < 1.5 s.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.testing.serving import (  # noqa: E402 - the project on the path first
    DEPLOY,
    Processes,
    free_port,
    production_env,
    start_gunicorn,
    start_nginx_site,
    wait_for_port,
)

HOST = "wiki.bench.example"
BENCH_SECRET_KEY = "bench-only-secret-key-proxy-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
BENCH_FERNET_KEY = "p3aZzrj0f5P6mYbJdC5D0dI9bU5cN0wq3c7hY6v2yJQ="


def say(text: str = "") -> None:
    print(text, flush=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _load_worker(args: tuple) -> tuple[int, int, list[float]]:
    port, host, cookie, seconds, threads = args
    deadline = time.perf_counter() + seconds
    results: list[tuple[int, int, list[float]]] = []

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        ok = bad = 0
        latencies: list[float] = []
        headers = {"Host": host, "Cookie": cookie} if cookie else {"Host": host}
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                conn.request("GET", "/docs/page?x=1", headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                continue
            latencies.append((time.perf_counter() - t0) * 1000)
            ok, bad = (ok + 1, bad) if response.status == 200 else (ok, bad + 1)
        conn.close()
        results.append((ok, bad, latencies))

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return (sum(r[0] for r in results), sum(r[1] for r in results), [v for r in results for v in r[2]])


def load(port: int, host: str, cookie: str, seconds: float, connections: int, processes: int) -> dict:
    per = max(1, connections // processes)
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        parts = pool.map(_load_worker, [(port, host, cookie, seconds, per)] * processes)
    elapsed = time.perf_counter() - started
    latencies = [v for part in parts for v in part[2]]
    ok, bad = sum(p[0] for p in parts), sum(p[1] for p in parts)
    return {"rate": ok / seconds, "ok": ok, "bad": bad, "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99), "elapsed": elapsed}


def nginx_sites(template: str, front: int, direct: int, upstream: int) -> str:
    return f"""# The application: a static answer.
server {{
    listen 127.0.0.1:{upstream};
    location / {{ default_type text/plain; return 200 "upstream ok\\n"; }}
}}
# The same application, proxied straight.
server {{
    listen 127.0.0.1:{direct};
    location / {{ proxy_pass http://127.0.0.1:{upstream}; proxy_http_version 1.1; proxy_set_header Connection ""; }}
}}
{template}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="load per path (default 15)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--trials", type=int, default=20, help="revocation-to-refusal trials")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (4 threads each)")
    parser.add_argument("--db-name", default="console_bench_proxy")
    args = parser.parse_args(argv)

    import psycopg
    from psycopg import sql

    from console.testing.redis_server import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix="bench-access-proxy-"))
    processes, redis = Processes(tmp), RedisServer()
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args.db_name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(args.db_name)))
    try:
        redis.start()
        console_port, front, direct, upstream = free_port(), free_port(), free_port(), free_port()
        env = production_env(
            database_url=f"postgres://postgres@127.0.0.1:5432/{args.db_name}", cache_url=f"{redis.url}/0",
            broker_url=f"{redis.url}/1", var_dir=tmp / "var", secret_key=BENCH_SECRET_KEY,
            field_encryption_keys=BENCH_FERNET_KEY, CONSOLE_URL="https://console.bench.example",
            ACCESS_TRUSTED_PROXIES="127.0.0.1/32",
        )
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from accounts.models import Group, User
        from console.access import decisions, services
        from console.access.models import AccessSession
        from console.access.proxy import configs
        from console.access.proxy.views import proxy_issuer

        admin = User.objects.create_user("bench-admin@bench.example", full_name="Bench Admin", role="super_admin")
        person = User.objects.create_user("writer@bench.example", full_name="Wendy Writer")
        writers = Group.objects.create(name="Writers")
        writers.members.add(person)
        wiki = services.application_create(actor=admin, name="Wiki", type="self_hosted", domain=HOST,
                                           session_seconds=86400)
        policy = services.policy_create(actor=admin, name="Writers", action="allow",
                                        rules={"include": [{"type": "group", "values": [writers.pk]}]})
        services.application_set_policies(actor=admin, application=wiki, policy_ids=[policy.pk])

        access_log = tmp / "gunicorn-access.log"
        _, console_port, _ = start_gunicorn(
            processes, env, "--config", str(DEPLOY / "gunicorn.conf.py"), "--access-logfile", str(access_log),
            "--access-logformat", "%(U)s %(s)s %(D)s", workers=args.workers,
        )
        site = configs.Site(host=HOST, upstream=f"http://127.0.0.1:{upstream}",
                            console=f"http://127.0.0.1:{console_port}", console_host="127.0.0.1",
                            listen=f"127.0.0.1:{front}", tls=False)
        process, log = start_nginx_site(processes, nginx_sites(configs.render("nginx", site.values()), front, direct,
                                                               upstream))
        for port in (front, direct, upstream):
            wait_for_port(port, process, log)

        def cookie_for_new_session() -> tuple[str, object]:
            outcome = decisions.decide(application=wiki, source="proxy", issuer=proxy_issuer(), user=person,
                                       console_session_hash=os.urandom(16).hex())
            return f"access_session={outcome.token}", outcome.session

        cookie, _ = cookie_for_new_session()
        check = http.client.HTTPConnection("127.0.0.1", front, timeout=10)
        check.request("GET", "/docs/page?x=1", headers={"Host": HOST, "Cookie": cookie})
        answer = check.getresponse()
        assert answer.status == 200 and answer.read() == b"upstream ok\n", answer.status
        check.request("GET", "/docs/page?x=1", headers={"Host": HOST})
        refused = check.getresponse()
        refused.read()
        assert refused.status == 302, refused.status
        check.close()

        say(f"bench/access_proxy.py: {args.connections} connections from {args.processes} load processes, "
            f"{args.seconds:.0f} s per path, gunicorn {args.workers} workers × 4 threads, {os.cpu_count()} CPUs")
        load(front, HOST, cookie, 2, args.connections, args.processes)  # warm every worker's caches
        access_log.write_text("")
        straight = load(direct, HOST, "", args.seconds, args.connections, args.processes)
        guarded = load(front, HOST, cookie, args.seconds, args.connections, args.processes)
        durations = [int(line.split()[2]) / 1000 for line in access_log.read_text().splitlines()
                     if line.startswith("/api/v1/access/forward-auth ") and line.split()[1] == "200"]
        say()
        say(f"{'path':38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'not 200':>8}")
        for label, result in (("nginx → upstream (straight)", straight),
                              ("nginx + forward-auth → upstream", guarded)):
            say(f"{label:38} {result['rate']:9.0f} {result['p50']:8.2f} {result['p99']:8.2f} {result['bad']:8d}")
        ratio = guarded["rate"] / straight["rate"] if straight["rate"] else 0
        say(f"forward-auth keeps {ratio:.0%} of the straight rate (target ≥ 50 %)")
        say(f"forward-auth endpoint inside gunicorn: {len(durations)} requests, p50 "
            f"{percentile(durations, 0.5):.2f} ms, p99 {percentile(durations, 0.99):.2f} ms (target p99 < 5 ms)")

        say()
        delays = []
        for _ in range(args.trials):
            cookie, session = cookie_for_new_session()
            stop, first_refusal = threading.Event(), {}

            def poll(cookie: str = cookie, stop: threading.Event = stop, first_refusal: dict = first_refusal) -> None:
                conn = http.client.HTTPConnection("127.0.0.1", front, timeout=10)
                while not stop.is_set():
                    conn.request("GET", "/docs/page", headers={"Host": HOST, "Cookie": cookie})
                    response = conn.getresponse()
                    response.read()
                    if response.status != 200 and "at" not in first_refusal:
                        first_refusal["at"] = time.perf_counter()
                        first_refusal["status"] = response.status
                        return

            poller = threading.Thread(target=poll)
            poller.start()
            time.sleep(0.3)  # the session is in use
            row = AccessSession.objects.get(pk=session.pk)
            revoked_at = time.perf_counter()  # from the call: the marks are written before the commit
            services.session_revoke(actor=admin, session=row)
            poller.join(timeout=10)
            stop.set()
            if "at" in first_refusal:
                delays.append(max(0.0, first_refusal["at"] - revoked_at) * 1000)
        say(f"revocation to refusal at the proxy over {len(delays)} of {args.trials} trials: p50 "
            f"{percentile(delays, 0.5):.1f} ms, p95 {percentile(delays, 0.95):.1f} ms, max {max(delays):.1f} ms "
            "(target p95 < 1.5 s)")
        return 0
    finally:
        processes.stop_all()
        redis.stop()
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args.db_name)))


if __name__ == "__main__":
    sys.exit(main())
