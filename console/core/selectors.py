"""Reads of the core's own rows (worker round-trip checks)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from console.core.models import WorkerCheck
from console.core.permissions import get_for_role


def recent_worker_checks(limit: int = 5) -> list[WorkerCheck]:
    return list(WorkerCheck.objects.all()[:limit])


def get_worker_check_for(viewer: Any, pk: int, roles: Iterable[str]) -> WorkerCheck:
    return get_for_role(WorkerCheck.objects.all(), viewer, pk, "worker check", roles)
