"""Reads about usage discovery itself (is there anything to show, what the rollup is doing)."""

from __future__ import annotations

from dataclasses import dataclass

from risk.models import GatewayHttpEvent
from shadow_ai.usage.models import UsageAppDay, UsageDirtyDay, UsageHostDay, UsageRollupRun


@dataclass(frozen=True)
class UsageState:
    has_logs: bool  # any Gateway HTTP log stored
    has_rollups: bool  # any day rolled up
    pending_days: int  # days with logs newer than their rollup
    last_run: UsageRollupRun | None

    @property
    def waiting(self) -> bool:
        """Logs are stored but nothing is rolled up yet."""
        return self.has_logs and not self.has_rollups


def usage_state() -> UsageState:
    return UsageState(
        has_logs=GatewayHttpEvent.objects.exists(),
        has_rollups=UsageAppDay.objects.exists() or UsageHostDay.objects.exists(),
        pending_days=UsageDirtyDay.objects.count(),
        last_run=UsageRollupRun.objects.first(),
    )


def get_run(run_id: int) -> UsageRollupRun | None:
    return UsageRollupRun.objects.filter(pk=run_id).first()
