"""The score: the highest level of any enabled behaviour a person triggered since their last
reset (and within the look-back), High while they are marked confirmed compromised, Unscored
when nothing counts.

The database does the aggregation, for a handful of people after an ingest and for everyone in
a full rescore alike: one statement per chunk computes every new level and returns only the
people whose level changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.utils import timezone

from risk.models import BehaviourConfig, Level, RiskEvent, UserRisk

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Change:
    user_id: int
    previous: int
    current: int


def _tables() -> dict[str, str]:
    return {"event": RiskEvent._meta.db_table, "config": BehaviourConfig._meta.db_table,
            "risk": UserRisk._meta.db_table}


def _since(lookback_days: int, now: datetime) -> datetime:
    return now - timedelta(days=lookback_days) if lookback_days else EPOCH


CHANGED_SQL = """
SELECT x.user_id, x.old_level, x.new_level FROM (
    SELECT u.user_id, u.level AS old_level,
           CASE WHEN u.compromised_at IS NOT NULL THEN {high} ELSE COALESCE(a.top, 0) END AS new_level
    FROM {risk} u
    LEFT JOIN (
        SELECT e.user_id, MAX(c.level) AS top
        FROM {event} e
        JOIN {config} c ON c.key = e.behaviour AND c.enabled
        JOIN {risk} r ON r.user_id = e.user_id
        WHERE e.at >= %s AND (r.last_reset_at IS NULL OR e.at > r.last_reset_at) AND {event_scope}
        GROUP BY e.user_id
    ) a ON a.user_id = u.user_id
    WHERE {risk_scope}
) x
WHERE x.old_level <> x.new_level
"""


def changed_levels_for(user_ids: Sequence[int], *, lookback_days: int, now: datetime | None = None) -> list[Change]:
    """New levels of these people, for those whose level changed."""
    if not user_ids:
        return []
    now = now or timezone.now()
    ids = sorted(set(user_ids))
    marks = ", ".join(["%s"] * len(ids))
    sql = CHANGED_SQL.format(high=int(Level.HIGH), event_scope=f"e.user_id IN ({marks})",
                             risk_scope=f"u.user_id IN ({marks})", **_tables())
    with connection.cursor() as cursor:
        cursor.execute(sql, [_since(lookback_days, now), *ids, *ids])
        return [Change(*row) for row in cursor.fetchall()]


def changed_levels_between(low: int, high: int, *, lookback_days: int, now: datetime | None = None) -> list[Change]:
    """New levels of everyone with ``low <= user id <= high``, for those whose level changed."""
    now = now or timezone.now()
    sql = CHANGED_SQL.format(high=int(Level.HIGH), event_scope="e.user_id BETWEEN %s AND %s",
                             risk_scope="u.user_id BETWEEN %s AND %s", **_tables())
    with connection.cursor() as cursor:
        cursor.execute(sql, [_since(lookback_days, now), low, high, low, high])
        return [Change(*row) for row in cursor.fetchall()]


def chunk_bounds(size: int) -> list[tuple[int, int]]:
    """User-id ranges holding about ``size`` scored people each (for progress and short locks)."""
    ids = list(UserRisk.objects.order_by("user_id").values_list("user_id", flat=True)[::1])
    bounds = []
    for start in range(0, len(ids), size):
        part = ids[start:start + size]
        bounds.append((part[0], part[-1]))
    return bounds
