from __future__ import annotations

import pytest

from console.testing.redis_server import own_redis  # noqa: F401 - a Redis of the test's own
from risk.models import BehaviourConfig
from risk.services import configuration, sources


@pytest.fixture
def enable(db):
    """Enable behaviours (all predefined ones are off by default)."""

    def on(*keys: str, **params) -> None:
        configuration.ensure_configs()
        for key in keys:
            config = BehaviourConfig.objects.get(key=key)
            config.enabled = True
            if key in params:
                config.params = params[key]
            config.save()

    return on


@pytest.fixture
def source(db, security_admin):
    def make(kind: str, name: str = ""):
        return sources.telemetry_source_create(actor=security_admin, name=name or f"{kind} sender", kind=kind)

    return make
