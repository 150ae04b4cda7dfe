"""Fixtures for the Shadow AI tests: the shipped library, API tokens, people in groups."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from console.access import policies


@pytest.fixture(autouse=True)
def _fresh_caches():
    policies.clear_local_cache()
    yield
    policies.clear_local_cache()


@pytest.fixture
def library(db):
    """The catalogue shipped with the console, loaded the way deployments load it."""
    from shadow_ai.catalogue import sync_library

    return sync_library()


@pytest.fixture
def app_named(library) -> Callable:
    from shadow_ai.models import Application

    return lambda name: Application.objects.get(name=name)


@pytest.fixture
def gateway_token(super_admin) -> str:
    from console.access.services import api_token_create

    _, secret = api_token_create(actor=super_admin, name="secure web gateway", scopes=["gateway:evaluate"])
    return secret


@pytest.fixture
def evaluate(client) -> Callable:
    """``evaluate(token, body)``: POST /api/v1/gateway/evaluate."""

    def call(token: str | None, body, content_type: str = "application/json"):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        return client.post("/api/v1/gateway/evaluate", data=data, content_type=content_type, **headers)

    return call


# --- Usage discovery ---------------------------------------------------------------------------


@pytest.fixture
def people(make_user) -> list:
    """The senders of the usage tests' Gateway logs, and who the rollups count each as."""
    from console.access.models import Device
    from shadow_ai.tests.usage_data import Person

    make_user(email="ada@corp.example", full_name="Ada")
    make_user(email="bob@corp.example", full_name="Bob")
    dee = make_user(email="dee@corp.example", full_name="Dee")
    Device.objects.create(user=dee, device_id="mac-dee", name="Dee's Mac", os="macOS")
    return [
        Person("ada@corp.example", "mac-ada", "Ada's Mac", "ada@corp.example"),
        Person("bob@corp.example", "win-bob", "Bob's PC", "bob@corp.example"),
        Person("", "mac-dee", "Dee's Mac", "dee@corp.example"),  # no e-mail in the logs: known by device
        Person("eve@partner.example", "eve-1", "Eve's laptop", "eve@partner.example"),  # not in the directory
        Person("", "kiosk-1", "Lobby kiosk", ""),  # nobody: counted in requests, not people
    ]


@pytest.fixture
def source(super_admin):
    """A Gateway HTTP logs telemetry source."""
    from risk.services import sources

    found, _ = sources.telemetry_source_create(actor=super_admin, name="Logpush", kind="gateway_http")
    return found
