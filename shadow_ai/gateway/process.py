"""One gateway process: mitmproxy as a library, with a trimmed set of its addons and ours.

The process is stateless: everything it decides with comes from the database and the shared
cache (through the same process caches Access uses), and everything it logs goes to the database,
so any number of gateway processes, on any number of machines, can serve behind one address.

The organization CA's private key is written only to a private temporary directory (mode 0700)
for mitmproxy to load at start, and removed once it is loaded; a rotation's new CA is picked up
within ``CA_CHECK_SECONDS`` without a restart."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

from django.conf import settings
from mitmproxy import certs, options
from mitmproxy.addons import core, disable_h2c, errorcheck, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master
from mitmproxy.tools.dump import DumpMaster

from console.access import hotcache
from console.core import services as core_services
from shadow_ai.gateway import addon, ca, inspection, logsink

log = logging.getLogger(__name__)
CA_CHECK_SECONDS = 60.0
CONFDIR_BASENAME = "mitmproxy"


def share_the_port() -> None:
    """Let several gateway processes on one machine listen on the same port (``SO_REUSEPORT``:
    the kernel spreads new connections across them). mitmproxy opens its listener with
    ``asyncio.start_server``; this process is the gateway alone, so its listeners all share."""
    original = asyncio.start_server
    if getattr(original, "gateway_shares_port", False):
        return

    async def start_server(*args, **kwargs):
        kwargs.setdefault("reuse_port", True)
        return await original(*args, **kwargs)

    start_server.gateway_shares_port = True  # type: ignore[attr-defined]
    asyncio.start_server = start_server


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8080`` for IPv6) → (host, port); ValueError saying what is wrong."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"GATEWAY_LISTEN must be host:port (e.g. 0.0.0.0:8080), not {value!r}")
    return host, int(port)


def _write_ca(confdir: Path, signing: ca.GatewayCA) -> Path:
    path = confdir / f"{CONFDIR_BASENAME}-ca.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(signing.private_key_pem)
        handle.write(signing.certificate_pem)
    return path


class CaWatcher:
    """Keeps mitmproxy's certificate store on the signing CA."""

    def __init__(self, master: Master, confdir: Path, fingerprint: str) -> None:
        self.master, self.confdir, self.fingerprint = master, confdir, fingerprint

    def check(self) -> bool:
        """Switch to a new signing CA (a rotation's overlap ended). True when it switched."""
        signing = ca.ca_ensure()
        if signing.fingerprint_sha256 == self.fingerprint:
            return False
        path = _write_ca(self.confdir, signing)
        try:
            store = certs.CertStore.from_files(path, self.confdir / f"{CONFDIR_BASENAME}-dhparam.pem")
        finally:
            path.unlink(missing_ok=True)
        tls = self.master.addons.get("tlsconfig")
        tls.certstore = store
        self.fingerprint = signing.fingerprint_sha256
        log.warning("gateway: now signing with CA %s", signing.fingerprint_sha256)
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CA_CHECK_SECONDS)
            try:
                await asyncio.to_thread(self.check)
            except Exception:
                log.exception("gateway: checking the organization CA failed; keeping the current one")


HEARTBEAT_SECONDS = 10.0


class Heartbeat:
    """Tells the console's health page this gateway is alive: where it listens, the version of
    the policies it decides with, its request rate and its log queue (``Heartbeat`` row
    ``gateway:<host>:<pid>``)."""

    def __init__(self, gateway: addon.Gateway, listen: str) -> None:
        self.gateway, self.listen = gateway, listen
        self.key = f"gateway:{socket.gethostname()}:{os.getpid()}"
        self.last = (time.monotonic(), 0)

    def beat(self) -> None:
        now, count = time.monotonic(), self.gateway.requests
        rate = (count - self.last[1]) / max(now - self.last[0], 0.001)
        self.last = (now, count)
        hotcache.ensure_fresh()
        core_services.heartbeat_record(key=self.key, detail={
            "listen": self.listen, "policies_version": hotcache.version_label(), "requests": count,
            "rate_per_second": round(rate, 1), "log": logsink.stats(), "fail_mode": settings.GATEWAY_FAIL_MODE,
        })

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.beat)
            except Exception:
                log.exception("gateway: the heartbeat could not be recorded")
            await asyncio.sleep(HEARTBEAT_SECONDS)


def build_master(*, host: str, port: int, confdir: Path, full_addons: bool = False) -> tuple[Master, addon.Gateway]:
    """A mitmproxy master listening on ``host:port`` with our addon. ``full_addons``: mitmproxy's
    DumpMaster with all its default addons (for comparison in ``bench/gateway.py``)."""
    opts = options.Options(listen_host=host, listen_port=port, confdir=str(confdir))
    if full_addons:
        master: Master = DumpMaster(opts, with_termlog=False, with_dumper=False)
    else:
        master = Master(opts)
        master.addons.add(core.Core(), errorcheck.ErrorCheck(), disable_h2c.DisableH2C(), proxyserver.Proxyserver(),
                          next_layer.NextLayer(), tlsconfig.TlsConfig())
    gateway = addon.Gateway()
    master.addons.add(gateway)
    # Options that belong to addons exist once the addons are added. Lazy: a request answered by
    # the gateway (block, redirect) never connects upstream.
    updates: dict = {"connection_strategy": "lazy", "ssl_insecure": False}
    if settings.GATEWAY_TEST_UPSTREAM_CA:
        updates["ssl_verify_upstream_trusted_ca"] = settings.GATEWAY_TEST_UPSTREAM_CA
    master.options.update(**updates)
    return master, gateway


async def _started(run: asyncio.Task, gateway: addon.Gateway) -> None:
    """Wait until mitmproxy runs (or fails to start: then raise what stopped it)."""
    ready = asyncio.create_task(gateway.ready.wait())
    await asyncio.wait([run, ready], return_when=asyncio.FIRST_COMPLETED)
    if not gateway.ready.is_set():
        ready.cancel()
        await run  # raises what stopped it
        raise RuntimeError("the gateway stopped before it listened (see the log above)")


async def serve(*, listen: str, full_addons: bool = False, ready: asyncio.Event | None = None) -> None:
    """Run one gateway until SIGINT/SIGTERM; the log queue is stored before returning."""
    host, port = parse_listen(listen)
    if settings.GATEWAY_REUSE_PORT:
        share_the_port()
    signing = await asyncio.to_thread(ca.ca_ensure)
    confdir = Path(tempfile.mkdtemp(prefix="gateway-"))
    os.chmod(confdir, 0o700)
    ca_file = _write_ca(confdir, signing)
    logsink.start()
    inspection.start()
    watcher_task = heartbeat_task = heartbeat = None
    try:
        master, gateway = build_master(host=host, port=port, confdir=confdir, full_addons=full_addons)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, master.shutdown)
        run = asyncio.create_task(master.run())
        await _started(run, gateway)
        ca_file.unlink(missing_ok=True)  # loaded: the key lives on only in this process's memory
        loaded = master.addons.get("tlsconfig").certstore.default_ca
        if ca.fingerprint(loaded._cert) != signing.fingerprint_sha256:
            raise RuntimeError("mitmproxy did not load the organization CA")
        watcher_task = asyncio.create_task(CaWatcher(master, confdir, signing.fingerprint_sha256).run())
        heartbeat = Heartbeat(gateway, listen)
        heartbeat_task = asyncio.create_task(heartbeat.run())
        log.warning("gateway listening on %s:%s, signing with CA %s", host, port, signing.fingerprint_sha256)
        print(f"gateway listening on {host}:{port}", flush=True)
        if ready is not None:
            ready.set()
        await run
    finally:
        for task in (watcher_task, heartbeat_task):
            if task is not None:
                task.cancel()
        await asyncio.to_thread(logsink.stop)
        await asyncio.to_thread(inspection.stop)
        if heartbeat is not None:
            await asyncio.to_thread(core_services.heartbeat_forget, key=heartbeat.key)
        shutil.rmtree(confdir, ignore_errors=True)
