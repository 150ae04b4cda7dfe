"""A connector's ``carry`` state outlives a finished scan (a watermark), and only a finished one."""

from __future__ import annotations

import pytest
from django.utils import timezone

from shadow_ai.casb.models import Integration, ScanRun
from shadow_ai.casb.scanner import _connector_state

pytestmark = pytest.mark.django_db


def test_a_new_scan_starts_with_what_the_last_finished_scan_carried():
    integration = Integration.objects.create(name="M365", vendor="microsoft_365")
    ScanRun.objects.create(integration=integration, status=ScanRun.Status.SUCCEEDED, finished_at=timezone.now(),
                           state={"connector": {"carry": {"copilot_until": "2026-03-01T08:00:00Z"}, "apps": {}}})
    ScanRun.objects.create(integration=integration, status=ScanRun.Status.FAILED, finished_at=timezone.now(),
                           state={"connector": {"carry": {"copilot_until": "2026-03-02T08:00:00Z"}}})
    run = ScanRun.objects.create(integration=integration)
    assert _connector_state(run, {}) == {"carried": {"copilot_until": "2026-03-01T08:00:00Z"}}
    # A run resumed from its checkpoint keeps its own state.
    assert _connector_state(run, {"connector": {"copilot_window": ["a", "b"]}}) == {"copilot_window": ["a", "b"]}
