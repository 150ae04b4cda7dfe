"""Fixtures for the CASB tests: a vendor API on loopback, contexts pointed at it, integrations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shadow_ai.casb.testing import VendorServer

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def vendor_server() -> Iterator[VendorServer]:
    server = VendorServer().start()
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
