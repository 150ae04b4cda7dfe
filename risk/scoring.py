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

from risk.models import BehaviourConfig, Level, RiskEvent, RiskLevelChange, UserRisk

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


# PostgreSQL does the whole step in one statement: compute, store the new levels, write the
# history, and hand back what changed (for Shared Signals and Access).
RECORD_SQL = """
WITH changed AS ({changed}),
updated AS (
    UPDATE {risk} AS u SET level = c.new_level, changed_at = %s
    FROM changed c WHERE u.user_id = c.user_id
    RETURNING u.user_id
),
history AS (
    INSERT INTO {history} (user_id, at, previous, current, cause, actor_email, reason)
    SELECT user_id, %s, old_level, new_level, %s, %s, %s FROM changed
)
SELECT user_id, old_level, new_level FROM changed
"""


@dataclass(frozen=True)
class Scope:
    """Whom to score: these people, or everyone whose id is in a range."""

    user_ids: tuple[int, ...] = ()
    low: int | None = None
    high: int | None = None

    def sql(self) -> tuple[str, str, list[int]]:
        if self.low is not None:
            return "e.user_id BETWEEN %s AND %s", "u.user_id BETWEEN %s AND %s", [self.low, self.high]
        marks = ", ".join(["%s"] * len(self.user_ids))
        return f"e.user_id IN ({marks})", f"u.user_id IN ({marks})", list(self.user_ids)


def lock(scope: Scope) -> int:
    """Lock the scored people in ``scope`` until the transaction ends (one scorer per person at
    a time, so each change is computed from what is committed and recorded once); returns how
    many there are. Only a count travels back."""
    _, risk_scope, params = scope.sql()
    table = UserRisk._meta.db_table
    suffix = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM (SELECT u.user_id FROM {table} u WHERE {risk_scope} "  # noqa: S608
                       f"ORDER BY u.user_id{suffix}) locked", params)
        return cursor.fetchone()[0]


def changed_levels(scope: Scope, *, lookback_days: int, now: datetime | None = None) -> list[Change]:
    """New levels of the people in ``scope``, for those whose level changed (nothing written)."""
    if scope.low is None and not scope.user_ids:
        return []
    now = now or timezone.now()
    event_scope, risk_scope, params = scope.sql()
    sql = CHANGED_SQL.format(high=int(Level.HIGH), event_scope=event_scope, risk_scope=risk_scope, **_tables())
    with connection.cursor() as cursor:
        cursor.execute(sql, [_since(lookback_days, now), *params, *params])
        return [Change(*row) for row in cursor.fetchall()]


def record_changes(
    scope: Scope, *, lookback_days: int, cause: str, actor_email: str = "", reason: str = "",
    now: datetime | None = None,
) -> list[Change]:
    """Compute the people's levels and store every change with its history row; returns the
    changes. One statement on PostgreSQL; elsewhere a query and a few bulk writes."""
    if scope.low is None and not scope.user_ids:
        return []
    now = now or timezone.now()
    if connection.vendor != "postgresql":
        changes = changed_levels(scope, lookback_days=lookback_days, now=now)
        _write(changes, cause=cause, actor_email=actor_email, reason=reason, now=now)
        return changes
    event_scope, risk_scope, params = scope.sql()
    changed = CHANGED_SQL.format(high=int(Level.HIGH), event_scope=event_scope, risk_scope=risk_scope, **_tables())
    sql = RECORD_SQL.format(changed=changed, risk=UserRisk._meta.db_table, history=RiskLevelChange._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [_since(lookback_days, now), *params, *params, now, now, cause, actor_email,
                             reason[:500]])
        return [Change(*row) for row in cursor.fetchall()]


def _write(changes: Sequence[Change], *, cause: str, actor_email: str, reason: str, now: datetime) -> None:
    by_level: dict[int, list[int]] = {}
    for c in changes:
        by_level.setdefault(c.current, []).append(c.user_id)
    for level, users in by_level.items():
        for start in range(0, len(users), 5000):
            UserRisk.objects.filter(pk__in=users[start:start + 5000]).update(level=level, changed_at=now)
    RiskLevelChange.objects.bulk_create([
        RiskLevelChange(user_id=c.user_id, at=now, previous=c.previous, current=c.current, cause=cause,
                        actor_email=actor_email, reason=reason[:500])
        for c in changes
    ], batch_size=2000)


def chunk_bounds(size: int, *, after: int = 0) -> list[tuple[int, int]]:
    """User-id ranges holding about ``size`` scored people each (for progress and short locks),
    over the people whose id is above ``after`` (a rescore's checkpoint)."""
    ids = list(UserRisk.objects.filter(user_id__gt=after).order_by("user_id").values_list("user_id", flat=True))
    bounds = []
    for start in range(0, len(ids), size):
        part = ids[start:start + size]
        bounds.append((part[0], part[-1]))
    return bounds
