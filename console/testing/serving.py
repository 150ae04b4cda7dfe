"""The documented serving setup as real processes: gunicorn started with
docs/deploy/gunicorn.conf.py behind nginx running docs/deploy/nginx-console.conf (only the ports
changed), for tests and benchmarks (console/access/tests/test_serving.py, bench/faults.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from console.testing.processes import stop

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"


class NotInstalled(RuntimeError):
    pass


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise NotInstalled("nginx is not installed: ./dev test installs it (apt-get install nginx)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """The processes a test or benchmark starts, each with its log; ``stop_all()`` ends them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              **popen: object) -> tuple[subprocess.Popen, Path]:
        log_path = self.tmp / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       **popen)  # type: ignore[call-overload]
        self.started.append((process, log_path))
        return process, log_path

    def stop_all(self) -> None:
        for process, _ in reversed(self.started):
            stop(process)


def wait_until_healthy(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
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


def start_gunicorn(processes: Processes, env: dict[str, str], *options: str, workers: int = 2,
                   name: str = "gunicorn") -> tuple[subprocess.Popen, int, Path]:
    """gunicorn serving console.wsgi on a free loopback port with ``env``; ``options`` as on its
    command line (e.g. ``--config docs/deploy/gunicorn.conf.py``). Returns once /healthz answers."""
    env = dict(env)
    env.pop("GUNICORN_CMD_ARGS", None)
    port = free_port()
    process, log = processes.start(name, [
        sys.executable, "-m", "gunicorn", "console.wsgi", *options,
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
    ], env)
    wait_until_healthy(port, process, log)
    return process, port, log


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise AssertionError(f"the documented nginx configuration should hold {old!r} once")
    return text.replace(old, new)


def start_nginx(processes: Processes, upstream_port: int) -> tuple[subprocess.Popen, int]:
    """nginx with the documented site configuration, its ports changed, everything else in the
    processes' temporary directory."""
    port = free_port()
    site = (DEPLOY / "nginx-console.conf").read_text()
    site = _replace_once(site, "listen 8000;", f"listen 127.0.0.1:{port};")
    site = _replace_once(site, "server 127.0.0.1:8001;", f"server 127.0.0.1:{upstream_port};")
    process, log = start_nginx_site(processes, site)
    wait_until_healthy(port, process, log)
    return process, port


def start_nginx_site(processes: Processes, site: str, name: str = "nginx") -> tuple[subprocess.Popen, Path]:
    """nginx running ``site`` (one or more server blocks) with everything it writes in the
    processes' temporary directory. Returns at once; the caller waits for its port."""
    tmp = write_nginx_config(processes.tmp / name, site)
    return processes.start(name, [
        nginx_binary(), "-c", str(tmp / "nginx.conf"), "-p", str(tmp), "-e", str(tmp / "error.log"),
        "-g", "daemon off;",
    ])


def write_nginx_config(tmp: Path, site: str) -> Path:
    """``tmp/nginx.conf``: a main configuration that includes ``site``, everything under ``tmp``."""
    tmp.mkdir(exist_ok=True)
    (tmp / "site.conf").write_text(site)
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
    include {tmp}/site.conf;
}}
""")
    return tmp


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    """Until something accepts connections on ``port`` (a proxy whose every path is protected)."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}:\n{log.read_text()}") from None
            time.sleep(0.1)


def production_env(*, database_url: str, cache_url: str, broker_url: str, var_dir: Path, secret_key: str,
                   field_encryption_keys: str, **extra: str) -> dict[str, str]:
    """The environment of a production web or worker process on loopback: ``console.settings``
    with ``CONSOLE_ENV=production`` (process caches and the spooled Access log on, as shipped),
    plain HTTP (TLS ends in front of nginx), everything it writes under ``var_dir``."""
    (var_dir / "static").mkdir(parents=True, exist_ok=True)
    return dict(os.environ) | {
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "CONSOLE_ENV": "production",
        "DEBUG": "false",
        "DATABASE_URL": database_url,
        "CACHE_URL": cache_url,
        "CELERY_BROKER_URL": broker_url,
        "SECRET_KEY": secret_key,
        "FIELD_ENCRYPTION_KEYS": field_encryption_keys,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "CONSOLE_VAR_DIR": str(var_dir),
        "STATIC_ROOT": str(var_dir / "static"),
        "ACCESS_LOG_SPOOL_DIR": str(var_dir / "access-log-spool"),
        "LOG_LEVEL": "WARNING",
    } | extra


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (gunicorn's or Celery's worker processes)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return sorted(set(found))


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` now (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0
