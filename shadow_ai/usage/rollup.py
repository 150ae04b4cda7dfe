"""Rolling one day of Gateway HTTP logs up into the usage tables, set-based.

For a day (in ``TIME_ZONE``) the database first groups the day's log rows by host, the
application names the gateway sent, person, device and country (the *grain*: usually far fewer
rows than the logs). Python then decides the application of each distinct (host, names) pair
with the library's hostname matcher — the longest library hostname covering the host wins — and,
for hosts the library does not know, the first name the gateway sent that is a library
application's name or alias. Every rollup table is then rebuilt for that day from the grain in a
handful of ``INSERT … SELECT … GROUP BY`` statements, after deleting the day's old rows. The
caller runs it in one transaction, so readers see a day's old numbers or its new ones, and
rebuilding a day always gives the same numbers.

Written for PostgreSQL (the production database) and also runs on SQLite (the embedded default).
"""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import User
from risk.models import GatewayHttpEvent
from shadow_ai import hostnames
from shadow_ai.models import Application
from shadow_ai.usage.models import (
    UsageAppDay,
    UsageAppPersonDay,
    UsageAppSeen,
    UsageCountryDay,
    UsageDeviceDay,
    UsageHostDay,
    UsagePersonDay,
)

T = {
    "events": GatewayHttpEvent._meta.db_table,
    "users": User._meta.db_table,
    "apps": Application._meta.db_table,
    "app_day": UsageAppDay._meta.db_table,
    "app_person": UsageAppPersonDay._meta.db_table,
    "person_day": UsagePersonDay._meta.db_table,
    "device_day": UsageDeviceDay._meta.db_table,
    "country_day": UsageCountryDay._meta.db_table,
    "host_day": UsageHostDay._meta.db_table,
    "seen": UsageAppSeen._meta.db_table,
}
DAY_TABLES = ("app_day", "app_person", "person_day", "device_day", "country_day", "host_day")


def zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def day_of(at: datetime) -> date:
    """The usage day a log row belongs to (its time in ``TIME_ZONE``)."""
    return at.astimezone(zone()).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a day in ``TIME_ZONE`` (23 or 25 hours long on daylight-saving days)."""
    tz = zone()
    return datetime.combine(day, time.min, tz), datetime.combine(day + timedelta(days=1), time.min, tz)


def today() -> date:
    return timezone.now().astimezone(zone()).date()


# --- Matching ---------------------------------------------------------------------------------


def name_index(apps: Iterable[tuple[int, str, str]]) -> dict[str, int]:
    """Lower-cased names and aliases → application id, from (id, name, aliases) rows. A name two
    applications claim (as name or alias) is left out rather than guessed; a name beats an alias."""
    by_name: dict[str, int] = {}
    by_alias: dict[str, set[int]] = {}
    for pk, name, aliases in apps:
        by_name[name.strip().lower()] = pk
        for alias in (aliases or "").split(","):
            if alias.strip():
                by_alias.setdefault(alias.strip().lower(), set()).add(pk)
    index = {alias: next(iter(ids)) for alias, ids in by_alias.items() if len(ids) == 1}
    index.update(by_name)
    return index


def match(host: str, names: Sequence[str], matcher: hostnames.HostnameMatcher,
          by_name: Mapping[str, int]) -> int | None:
    """The application of a log row: by hostname first (the library decides), else by the first
    application name the gateway sent that the library knows. None: an unmatched host."""
    try:
        found = matcher.match(hostnames.normalize(host)) if host else None
    except ValueError:
        found = None
    if found is not None:
        return found.id
    for name in names or ():
        pk = by_name.get(str(name).strip().lower())
        if pk is not None:
            return pk
    return None


# --- One day ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayResult:
    day: date
    rows: int  # log rows read
    matched_rows: int
    applications: int
    people: int
    new_applications: tuple[int, ...]  # first ever seen by this rollup


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _dt(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _d(value: date) -> Any:
    return connection.ops.adapt_datefield_value(value)


GRAIN_SQL = """
CREATE TEMP TABLE usage_grain AS
SELECT e.host AS host, e.application_names AS names,
       COALESCE(LOWER(u.email), e.email, '') AS person, MAX(e.user_id) AS user_id,
       COALESCE(NULLIF(e.device_id, ''), e.device_name, '') AS device, MAX(e.device_name) AS device_name,
       e.source_country AS country,
       COUNT(*) AS requests, SUM(e.bytes_sent) AS up, SUM(e.bytes_received) AS down,
       SUM(CASE WHEN LOWER(e.action) = 'block' THEN 1 ELSE 0 END) AS blocked,
       MIN(e.at) AS first_at, MAX(e.at) AS last_at
FROM {events} e LEFT JOIN {users} u ON u.id = e.user_id
WHERE e.at >= %s AND e.at < %s
GROUP BY e.host, e.application_names, COALESCE(LOWER(u.email), e.email, ''),
         COALESCE(NULLIF(e.device_id, ''), e.device_name, ''), e.source_country
"""

PAIRS_SQL = """
CREATE TEMP TABLE usage_pair AS
SELECT ROW_NUMBER() OVER (ORDER BY host) AS pair_id, host, names FROM (SELECT DISTINCT host, names FROM usage_grain) d
"""

ROWS_SQL = """
CREATE TEMP TABLE usage_rows AS
SELECT g.*, m.app_id AS app_id, a.is_gen_ai AS gen_ai
FROM usage_grain g
JOIN usage_pair p ON p.host = g.host AND p.names = g.names
LEFT JOIN usage_pair_app m ON m.pair_id = p.pair_id
LEFT JOIN {apps} a ON a.id = m.app_id
"""

INSERTS = (
    """INSERT INTO {app_day} (day, application_id, requests, bytes_up, bytes_down, users, devices, blocked,
                              first_at, last_at)
       SELECT %(day)s, app_id, SUM(requests), SUM(up), SUM(down), COUNT(DISTINCT NULLIF(person, '')),
              COUNT(DISTINCT NULLIF(device, '')), SUM(blocked), MIN(first_at), MAX(last_at)
       FROM usage_rows WHERE app_id IS NOT NULL GROUP BY app_id""",
    """INSERT INTO {app_person} (application_id, day, person, user_id, requests, bytes_up, bytes_down, last_at)
       SELECT app_id, %(day)s, person, MAX(user_id), SUM(requests), SUM(up), SUM(down), MAX(last_at)
       FROM usage_rows WHERE app_id IS NOT NULL AND person <> '' GROUP BY app_id, person
       ORDER BY app_id, person""",
    """INSERT INTO {person_day} (day, person, user_id, requests, bytes_up, bytes_down, apps, ai_requests,
                                 ai_bytes_up, ai_bytes_down, ai_apps, last_at)
       SELECT %(day)s, person, MAX(user_id), SUM(requests), SUM(up), SUM(down), COUNT(DISTINCT app_id),
              SUM(CASE WHEN gen_ai THEN requests ELSE 0 END), SUM(CASE WHEN gen_ai THEN up ELSE 0 END),
              SUM(CASE WHEN gen_ai THEN down ELSE 0 END), COUNT(DISTINCT CASE WHEN gen_ai THEN app_id END),
              MAX(last_at)
       FROM usage_rows WHERE app_id IS NOT NULL AND person <> '' GROUP BY person""",
    """INSERT INTO {device_day} (day, device, device_name, person, requests, bytes_up, bytes_down, ai_requests,
                                 ai_bytes_up, ai_bytes_down, last_at)
       SELECT %(day)s, device, COALESCE(MAX(NULLIF(device_name, '')), device), COALESCE(MAX(person), ''),
              SUM(requests), SUM(up), SUM(down), SUM(CASE WHEN gen_ai THEN requests ELSE 0 END),
              SUM(CASE WHEN gen_ai THEN up ELSE 0 END), SUM(CASE WHEN gen_ai THEN down ELSE 0 END), MAX(last_at)
       FROM usage_rows WHERE app_id IS NOT NULL AND device <> '' GROUP BY device""",
    """INSERT INTO {country_day} (day, application_id, country, requests, bytes_up, bytes_down, users)
       SELECT %(day)s, app_id, country, SUM(requests), SUM(up), SUM(down), COUNT(DISTINCT NULLIF(person, ''))
       FROM usage_rows WHERE app_id IS NOT NULL GROUP BY app_id, country""",
)

HOSTS_SQL = """
INSERT INTO {host_day} (day, host, gateway_name, requests, users, bytes_up, bytes_down, last_at)
SELECT %(day)s, host, '', SUM(requests), COUNT(DISTINCT NULLIF(person, '')), SUM(up), SUM(down), MAX(last_at)
FROM usage_rows WHERE app_id IS NULL GROUP BY host
"""

SEEN_SQL = """
INSERT INTO {seen} (application_id, first_at, last_at, discovered_at)
SELECT application_id, first_at, last_at, %(now)s FROM {app_day} WHERE day = %(day)s
ON CONFLICT (application_id) DO UPDATE SET first_at = {least}({seen}.first_at, excluded.first_at),
                                           last_at = {greatest}({seen}.last_at, excluded.last_at)
"""


def _drop_temporary(cursor) -> None:
    for name in ("usage_rows", "usage_pair_app", "usage_pair", "usage_grain"):
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def rollup_day(day: date, *, matcher: hostnames.HostnameMatcher, by_name: Mapping[str, int]) -> DayResult:
    """Rebuild every usage rollup of ``day`` from its logs. Run it inside a transaction."""
    low, high = day_bounds(day)
    params = {"day": _d(day), "now": _dt(timezone.now())}
    names = {k: v for k, v in T.items()}
    names["least"], names["greatest"] = ("LEAST", "GREATEST") if _postgres() else ("MIN", "MAX")
    with connection.cursor() as cursor:
        if _postgres():
            # The day's grain is grouped and joined in memory rather than on disk.
            cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.SHADOW_AI_USAGE_WORK_MEM])
        _drop_temporary(cursor)
        cursor.execute(GRAIN_SQL.format(**names), [_dt(low), _dt(high)])
        cursor.execute(PAIRS_SQL)
        cursor.execute("SELECT pair_id, host, names FROM usage_pair")
        decided = []
        for pair_id, host, sent in cursor.fetchall():
            if isinstance(sent, str | bytes):
                sent = json.loads(sent or "[]")
            decided.append((pair_id, match(host, sent if isinstance(sent, list) else [], matcher, by_name)))
        cursor.execute("CREATE TEMP TABLE usage_pair_app (pair_id BIGINT, app_id BIGINT)")
        if decided:
            cursor.executemany("INSERT INTO usage_pair_app (pair_id, app_id) VALUES (%s, %s)", decided)
        cursor.execute(ROWS_SQL.format(**names))
        for table in DAY_TABLES:
            cursor.execute(f"DELETE FROM {T[table]} WHERE day = %s", [params["day"]])  # noqa: S608
        for statement in INSERTS:
            cursor.execute(statement.format(**names), params)
        cursor.execute(HOSTS_SQL.format(**names), params)
        cursor.execute(
            f"SELECT application_id FROM {T['app_day']} WHERE day = %s AND application_id NOT IN "  # noqa: S608
            f"(SELECT application_id FROM {T['seen']})", [params["day"]])
        new = tuple(sorted(pk for (pk,) in cursor.fetchall()))
        cursor.execute(SEEN_SQL.format(**names), params)
        cursor.execute("SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(CASE WHEN app_id IS NOT NULL THEN requests "
                       "ELSE 0 END), 0), COUNT(DISTINCT app_id), COUNT(DISTINCT NULLIF(person, '')) FROM usage_rows")
        rows, matched, apps, people = cursor.fetchone()
        _gateway_names(cursor, params["day"])
        _drop_temporary(cursor)
    return DayResult(day=day, rows=int(rows), matched_rows=int(matched), applications=int(apps), people=int(people),
                     new_applications=new)


def _gateway_names(cursor, day: Any) -> None:
    """For unmatched hosts, the application name the gateway sent (a hint when adding a custom
    application). Few rows: done in Python so the JSON handling stays the same everywhere."""
    cursor.execute("SELECT DISTINCT host, names FROM usage_rows WHERE app_id IS NULL")
    hints: dict[str, str] = {}
    for host, sent in cursor.fetchall():
        if isinstance(sent, str | bytes):
            sent = json.loads(sent or "[]")
        if sent and host not in hints and str(sent[0]).strip():
            hints[host] = str(sent[0]).strip()[:120]
    if hints:
        cursor.executemany(f"UPDATE {T['host_day']} SET gateway_name = %s WHERE day = %s AND host = %s",  # noqa: S608
                           [(name, day, host) for host, name in hints.items()])


def log_span() -> tuple[date, date] | None:
    """The first and last day that have Gateway HTTP logs (two index probes)."""
    first = GatewayHttpEvent.objects.order_by("at").values_list("at", flat=True).first()
    last = GatewayHttpEvent.objects.order_by("-at").values_list("at", flat=True).first()
    if first is None or last is None:
        return None
    return day_of(first), day_of(last)
