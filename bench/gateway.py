"""Web gateway benchmark: requests/s and added latency through ``manage.py gateway``, next to
plain mitmproxy (no policy addon) and a direct connection, same upstream, same requests, one run.

    .venv/bin/python bench/gateway.py                   # about 3 minutes on 2 cores
    .venv/bin/python bench/gateway.py --requests 400 --clients 4

One run:

1. builds the PostgreSQL database ``console_bench_gateway`` (the shipped library, a DLP profile,
   eight Gateway HTTP policies of every action, one person with a gateway credential);
2. starts one HTTPS upstream standing in for ``claude.ai`` (its own process; a test CA);
3. measures, each over keep-alive HTTPS connections tunnelled through the proxy (CONNECT with the
   credential), a POST of a short JSON prompt to the upstream:
   * direct (no proxy);
   * plain mitmproxy, all of DumpMaster's default addons, with only a routing addon;
   * plain mitmproxy, the trimmed addon set the gateway uses, with only a routing addon;
   * the gateway (policies, DLP scan of the prompt, batched logging into PostgreSQL);
   * the gateway with DumpMaster's default addons (``--full-addons``);
   * two gateway processes on one port (``SO_REUSEPORT``);
   first with one client (added latency, p50/p99), then with ``--clients`` client processes
   (requests/s);
4. times in process what the gateway adds per request: a policy evaluation (steady state, no
   database query), with a 4 KB prompt, and building the log row.

Loopback only. The load generator shares the machine's cores with the proxies: compare the
figures of one run with each other, not with another machine's."""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "console_bench_gateway"
HOST = "claude.ai"
PROMPT = json.dumps({"prompt": "Summarise the quarterly plan in three bullets for the leadership offsite.",
                     "model": "claude-sonnet", "conversation": "c-1"}).encode()
PATH = "/api/organizations/o1/chat_conversations/c1/completion"
ENV = {
    "CONSOLE_ENV": "development",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "CACHE_URL": "redis://127.0.0.1:6379/7",
    "CACHE_KEY_PREFIX": "bench-gateway",
    "CELERY_BROKER_URL": "memory://",
    "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH",
    "FIELD_ENCRYPTION_KEYS": "p3aZzrj0f5P6mYbJdC5D0dI9bU5cN0wq3c7hY6v2yJQ=",
    "DEBUG": "false",
    "CONSOLE_VAR_DIR": tempfile.mkdtemp(prefix="bench-gateway-"),
    "GATEWAY_LOG_FLUSH_SECONDS": "1.0",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


# --- The data ----------------------------------------------------------------------------------


def setup_django() -> None:
    os.environ.update(ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed() -> str:
    """A fresh database with policies of every action; returns the person's gateway token."""
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("sync_app_library", verbosity=0)
    from accounts.models import User
    from shadow_ai import services as library
    from shadow_ai.dlp import predefined
    from shadow_ai.dlp.models import DlpEntry, DlpProfile
    from shadow_ai.gateway import ca, credentials
    from shadow_ai.gateway import services as gateway
    from shadow_ai.models import Application

    admin = User.objects.create(email="admin@bench.example", role="super_admin", full_name="Admin")
    person = User.objects.create(email="ada@bench.example", role="employee", full_name="Ada")
    predefined.sync(DlpProfile, DlpEntry)
    secrets_profile = DlpProfile.objects.get(name="Credentials and Secrets")
    library.application_set_status(actor=admin, application=Application.objects.get(key="claude"),
                                   status="approved", reason="bench")
    library.application_set_status(actor=admin, application=Application.objects.get(key="chatgpt"),
                                   status="unapproved", reason="bench")
    claude = Application.objects.get(key="claude")
    policies = [
        ("Bank", "do_not_inspect", [{"type": "hostname", "values": ["bank.example"]}], {}),
        ("ChatGPT to Claude", "redirect", [{"type": "application", "values": ["chatgpt"]}], {"target": claude}),
        ("No secrets in AI", "block", [{"type": "gen_ai", "value": True},
                                       {"type": "dlp_profile", "values": [str(secrets_profile.pk)]}], {}),
        ("Unapproved", "block", [{"type": "status", "values": ["unapproved"]}], {}),
        ("Risky people", "block", [{"type": "risk_score", "values": ["high"]}], {}),
        ("Isolate file sharing", "isolate", [{"type": "category", "values": ["file_sharing"]}], {}),
        ("Contractors", "block", [{"type": "user_email", "values": ["@contractor.example"]}], {}),
        ("AI allowed", "allow", [{"type": "gen_ai", "value": True}], {}),
    ]
    for name, action, conditions, extra in policies:
        gateway.gateway_policy_create(actor=admin, name=name, action=action, conditions=conditions, **extra)
    ca.ca_ensure()
    _, token = credentials.gateway_credential_create(actor=person, name="bench")
    return token


# --- The upstream and the plain mitmproxy runners (each its own process) -----------------------


def serve_upstream(directory: str, ready: str) -> None:
    sys.path.insert(0, str(ROOT))
    from console.testing.websites import Site, TestAuthority

    authority = TestAuthority()
    site = Site(authority, HOST)
    Path(ready).write_text(json.dumps({"port": site.port, "ca": str(authority.ca_file)}))
    while True:
        time.sleep(3600)


class Route:
    """The only addon of the plain contenders: send claude.ai to the local upstream."""

    def __init__(self, port: int) -> None:
        self.port = port

    def http_connect(self, flow) -> None:
        if flow.request.host == HOST:
            flow.request.host, flow.request.port = "127.0.0.1", self.port


def serve_plain(port: int, upstream: int, ca_file: str, full: bool) -> None:
    import asyncio

    from mitmproxy import options
    from mitmproxy.addons import core, disable_h2c, errorcheck, next_layer, proxyserver, tlsconfig
    from mitmproxy.master import Master
    from mitmproxy.tools.dump import DumpMaster

    async def main() -> None:
        opts = options.Options(listen_host="127.0.0.1", listen_port=port, confdir=tempfile.mkdtemp())
        if full:
            master = DumpMaster(opts, with_termlog=False, with_dumper=False)
        else:
            master = Master(opts)
            master.addons.add(core.Core(), errorcheck.ErrorCheck(), disable_h2c.DisableH2C(),
                              proxyserver.Proxyserver(), next_layer.NextLayer(), tlsconfig.TlsConfig())
        master.addons.add(Route(upstream))
        master.options.update(connection_strategy="lazy", ssl_verify_upstream_trusted_ca=ca_file)
        await master.run()

    asyncio.run(main())


# --- The load ----------------------------------------------------------------------------------


def client_run(args: tuple) -> list[float]:
    """``count`` POSTs over one keep-alive connection (through the proxy when ``proxy_port``);
    returns each request's seconds."""
    proxy_port, upstream_port, token, count = args
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the client's own verification is not what is measured
    if proxy_port:
        conn = http.client.HTTPSConnection("127.0.0.1", proxy_port, context=context, timeout=30)
        auth = base64.b64encode(f"ada:{token}".encode()).decode()
        conn.set_tunnel(HOST, 443, headers={"Proxy-Authorization": f"Basic {auth}"})
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", upstream_port, context=context, timeout=30)
    headers = {"Host": HOST, "Content-Type": "application/json", "Accept": "application/json"}
    times = []
    for _ in range(count):
        started = time.perf_counter()
        conn.request("POST", PATH, body=PROMPT, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"answered {response.status}")
        times.append(time.perf_counter() - started)
    conn.close()
    return times


def measure(pool: multiprocessing.pool.Pool, proxy_port: int, upstream: int, token: str, *, requests: int,
            clients: int) -> dict:
    client_run((proxy_port, upstream, token, 20))  # warm: certificates generated, caches filled
    one = client_run((proxy_port, upstream, token, requests))
    started = time.perf_counter()
    results = pool.map(client_run, [(proxy_port, upstream, token, requests)] * clients)
    wall = time.perf_counter() - started
    total = sum(len(r) for r in results)
    return {"p50": statistics.median(one) * 1000, "p99": sorted(one)[int(len(one) * 0.99) - 1] * 1000,
            "rate": total / wall}


# --- In process: what the gateway adds per request ---------------------------------------------


def in_process(rounds: int = 3000) -> dict[str, float]:
    from django.conf import settings

    from shadow_ai.gateway import runtime

    settings.ACCESS_CACHE_SECONDS = 1.0
    prompt_4k = ("Please review this plan and list the risks for the quarter. " * 70)[:4096]

    def timed(**kwargs) -> float:
        runtime.evaluate(hostname=HOST, email="ada@bench.example", url=f"https://{HOST}{PATH}", method="POST",
                         **kwargs)
        samples = []
        for _ in range(rounds):
            started = time.perf_counter_ns()
            runtime.evaluate(hostname=HOST, email="ada@bench.example", url=f"https://{HOST}{PATH}", method="POST",
                             **kwargs)
            samples.append(time.perf_counter_ns() - started)
        return statistics.median(samples) / 1000

    results = {"evaluate, short prompt": timed(body=PROMPT.decode()), "evaluate, 4 KB prompt": timed(body=prompt_4k),
               "evaluate, no body": timed()}
    results.update(addon_cost(rounds))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        for _ in range(100):
            runtime.evaluate(hostname=HOST, email="ada@bench.example", body=prompt_4k)
    results["queries per 100 evaluations (steady state)"] = float(len(queries))
    return results


def addon_cost(rounds: int) -> dict[str, float]:
    """The addon's whole work for one request (identity, decision, DLP, log row) on mitmproxy
    test flows, and the writer's cost per stored row (parse + COPY), without the network."""
    from mitmproxy.test import tflow, tutils

    from shadow_ai.gateway import addon, credentials, logsink

    gateway = addon.Gateway()
    known = credentials.GatewayCredential.objects.get(name="bench")
    identity = addon.Identity(known.user_id, "ada@bench.example", known.pk)
    samples = []
    for _ in range(rounds):
        req = tutils.treq(method=b"POST", host=HOST, port=443, scheme=b"https", authority=HOST.encode(),
                          path=PATH.encode(), content=PROMPT,
                          headers=((b"host", HOST.encode()), (b"content-type", b"application/json")))
        flow = tflow.tflow(req=req, resp=tutils.tresp(status_code=200, content=b'{"ok": true}'))
        response = flow.response
        flow.response = None
        gateway.identities[flow.client_conn] = identity
        started = time.perf_counter_ns()
        gateway.requestheaders(flow)
        gateway.request(flow)
        flow.response = response
        gateway.response(flow)
        samples.append(time.perf_counter_ns() - started)
    queued = logsink.stats()["pending"]
    started = time.perf_counter()
    logsink.flush()
    per_row = (time.perf_counter() - started) / max(queued, 1) * 1e6
    return {"addon per request (decide, DLP, log row)": statistics.median(samples) / 1000,
            "log writer per row (parse, COPY, dirty days)": per_row}


# --- The run -----------------------------------------------------------------------------------


def start(command: list[str], env: dict, port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_port(port)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per client (default 300)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes (default 4)")
    args = parser.parse_args()

    print("Seeding the database ...", flush=True)
    token = seed()
    logs = Path(ENV["CONSOLE_VAR_DIR"])
    ready = logs / "upstream.json"
    upstream_proc = multiprocessing.get_context("spawn").Process(target=serve_upstream, args=(str(logs), str(ready)),
                                                                daemon=True)
    upstream_proc.start()
    while not ready.exists():
        time.sleep(0.1)
    upstream = json.loads(ready.read_text())
    env = dict(os.environ) | ENV | {"GATEWAY_TEST_UPSTREAMS": f"{HOST}=127.0.0.1:{upstream['port']}",
                                    "GATEWAY_TEST_UPSTREAM_CA": upstream["ca"],
                                    "DJANGO_SETTINGS_MODULE": "console.settings"}
    rows: list[tuple[str, dict]] = []
    pool = multiprocessing.get_context("spawn").Pool(args.clients)
    try:
        rows.append(("direct (no proxy)", measure(pool, 0, upstream["port"], token, requests=args.requests,
                                                  clients=args.clients)))
        contenders = [
            ("mitmproxy, default addons, routing only", "plain-full"),
            ("mitmproxy, trimmed addons, routing only", "plain-trimmed"),
            ("gateway (1 process)", "gateway"),
            ("gateway, default addons (1 process)", "gateway-full"),
            ("gateway (2 processes, one port)", "gateway-2"),
        ]
        for label, kind in contenders:
            port = free_port()
            processes = []
            if kind.startswith("plain"):
                code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bench.gateway import serve_plain; "
                        f"serve_plain({port}, {upstream['port']}, {upstream['ca']!r}, {kind == 'plain-full'})")
                processes.append(start([sys.executable, "-c", code], env, port, logs / f"{kind}.log"))
            else:
                extra = ["--full-addons"] if kind == "gateway-full" else []
                for n in range(2 if kind == "gateway-2" else 1):
                    processes.append(start([sys.executable, "manage.py", "gateway", "--listen", f"127.0.0.1:{port}",
                                            *extra], env, port, logs / f"{kind}-{n}.log"))
                    time.sleep(3 if n == 0 else 8)  # the second listener must be up before the load starts
            try:
                rows.append((label, measure(pool, port, upstream["port"], token, requests=args.requests,
                                            clients=args.clients)))
            finally:
                for process in processes:
                    process.terminate()
                    process.wait(30)
    finally:
        pool.terminate()
        upstream_proc.terminate()

    direct = rows[0][1]
    plain = dict(rows)["mitmproxy, default addons, routing only"]
    trimmed = dict(rows)["mitmproxy, trimmed addons, routing only"]
    print(f"\nPOST of a {len(PROMPT)}-byte JSON prompt over keep-alive HTTPS; {args.clients} clients x "
          f"{args.requests} requests for the rate, 1 client for latency. cores: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print(f"{'contender':44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'+p50 vs direct':>15} {'rate vs mitmproxy':>18}")
    for label, row in rows:
        print(f"{label:44} {row['rate']:8.0f} {row['p50']:8.2f} {row['p99']:8.2f} "
              f"{row['p50'] - direct['p50']:15.2f} {100 * row['rate'] / plain['rate']:17.0f}%")
    gateway_row = dict(rows)["gateway (1 process)"]
    print(f"\ngateway vs plain mitmproxy (default addons): {100 * gateway_row['rate'] / plain['rate']:.0f}% of the "
          f"rate (target >= 80%)")
    print(f"gateway vs mitmproxy with the same trimmed addons: +{gateway_row['p50'] - trimmed['p50']:.2f} ms p50 "
          "(policy evaluation, DLP scan and logging; target < 1 ms)")

    print("\nIn process (steady state, caches warm), median per call:")
    for name, value in in_process().items():
        unit = "" if name.startswith("queries") else " us"
        print(f"  {name:45} {value:8.1f}{unit}")
    stored = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DB_NAME, "-Atc",
                             "SELECT count(*) FROM risk_gatewayhttpevent"], capture_output=True, text=True).stdout
    print(f"\ngateway_http rows stored by the gateways during the run: {stored.strip()}")


if __name__ == "__main__":
    main()
