"""Fixtures for the CASB tests: a vendor API on loopback, contexts pointed at it, integrations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from shadow_ai.casb.dnstesting import DnsServer
from shadow_ai.casb.testing import (
    NOW,
    VendorServer,
)


@pytest.fixture
def vendor_server() -> Iterator[VendorServer]:
    server = VendorServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def dns_server(settings) -> Iterator[DnsServer]:
    """A DNS server on loopback that every CASB test's SPF/DMARC lookups go to (no records: every
    name is NXDOMAIN until a test adds some), so no test asks the machine's resolver."""
    server = DnsServer().start()
    settings.CASB_DNS_RESOLVERS = [server.address]
    settings.CASB_DNS_TIMEOUT = 2.0
    yield server
    server.stop()


@pytest.fixture
def waits() -> list[float]:
    """The pauses a connector asked for (the tests do not really sleep)."""
    return []


@pytest.fixture
def make_ctx(vendor_server, waits) -> Callable:
    """``make_ctx("openai", credentials={...}, config={...})``: a connector and a context that sends
    every vendor request to the loopback server, at a fixed clock."""
    from shadow_ai.casb.connectors import context_for, get

    def make(vendor: str, *, credentials: dict[str, str], config: dict[str, Any] | None = None,
             max_retries: int = 2, now: datetime = NOW):
        connector = get(vendor)
        ctx = context_for(connector, credentials=credentials, config=config or {}, base_url=vendor_server.url,
                          now=now, sleep=waits.append, max_retries=max_retries, max_wait=30.0)
        return connector, ctx

    return make


@pytest.fixture
def make_integration(db, vendor_server) -> Callable:
    """An integration of ``vendor`` whose vendor requests go to the loopback server."""
    import json

    from shadow_ai.casb.models import Integration

    def make(vendor: str = "openai", *, credentials: dict[str, str] | None = None, config: dict | None = None,
             name: str | None = None, **fields):
        if credentials is None:
            from shadow_ai.casb.connectors.openai.tests.payloads import ADMIN_KEY

            credentials = {"admin_api_key": ADMIN_KEY}
        return Integration.objects.create(
            name=name or f"{vendor} {Integration.objects.count() + 1}", vendor=vendor,
            credentials=json.dumps(credentials), config=config or {}, base_url=vendor_server.url, **fields)

    return make


@pytest.fixture
def openai_integration(make_integration, vendor_server):
    from shadow_ai.casb.connectors.openai.tests import payloads

    payloads.serve(vendor_server)
    return make_integration("openai", config={"workspace_id": "ws-acme"}, name="OpenAI (Acme)")


@pytest.fixture
def scan(db, settings) -> Callable:
    """``scan(integration)``: run a whole scan in this process, as a worker would; returns the run.

    The run lives in the test's transaction, which the lease heartbeat's own database connection
    cannot see: on a machine slow enough for a scan to outlast a renewal (every third of
    ``JOB_LEASE_SECONDS``), the heartbeat would find no lease and stop the scan half-way. A lease
    longer than any scan keeps the heartbeat out of these tests (the lease tests set their own)."""
    from shadow_ai.casb import scanner
    from shadow_ai.casb.models import ScanRun

    settings.JOB_LEASE_SECONDS = 3600

    def run(integration, *, owner: str = "test-worker"):
        scan_run = ScanRun.objects.create(integration=integration)
        outcome = scanner.execute(scan_run.pk, owner=owner, sleep=lambda s: None)
        scan_run.refresh_from_db()
        scan_run.outcome = outcome
        return scan_run

    return run


@pytest.fixture
def library(db):
    """The application library shipped with the console."""
    from shadow_ai.catalogue import sync_library

    return sync_library()
