"""Runners: each takes one query (``shadow_ai.usage.queries``), reads the rollup tables — never
the Gateway logs — and returns its result dataclass. ``run_all`` answers several queries from
the cache in one round trip and runs only the ones it has no answer for.

Each runner is one or a few aggregate queries over rows that are already per day; how many rows
it reads grows with the days asked for and the applications, people or devices seen on them,
never with the number of log rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from shadow_ai.usage import cache, rollup
from shadow_ai.usage import queries as q
from shadow_ai.usage.models import (
    UsageAppDay,
    UsageAppPersonDay,
    UsageAppSeen,
    UsageCountryDay,
    UsageDeviceDay,
    UsageHostDay,
    UsagePersonDay,
)

RUNNERS: dict[type, Callable[[Any], Any]] = {}


def runner(query_type: type) -> Callable:
    def register(function: Callable) -> Callable:
        RUNNERS[query_type] = function
        return function

    return register


def run(query: Any) -> Any:
    """Answer one query from the rollups (no cache)."""
    return RUNNERS[type(query)](query)


def run_all(queries: Sequence[Any]) -> list[Any]:
    """Answer the queries, from the cache where it has them; store the ones computed."""
    at = cache.version()
    keys = [cache.key_for(query, at) for query in queries]
    found = cache.get_many(list(dict.fromkeys(keys)))
    missing = {key: query for key, query in zip(keys, queries, strict=True) if key not in found}
    computed: dict[str, Any] = {}
    if missing:
        with _memory():
            for key, query in missing.items():
                computed[key] = run(query)
        cache.set_many(computed)
    return [found[key] if key in found else computed[key] for key in keys]


@contextmanager
def _memory() -> Iterator[None]:
    """On PostgreSQL, let the aggregates group tens of thousands of people in memory (the
    default work_mem spills them to disk), for these queries only."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.SHADOW_AI_USAGE_WORK_MEM])
        yield


def run_one(query: Any) -> Any:
    return run_all([query])[0]


# --- Helpers ----------------------------------------------------------------------------------


def _scope(query: q.Window, prefix: str = "application__") -> Q:
    return Q(**{f"{prefix}is_gen_ai": True}) if query.scope == "ai" else Q()


def _window(query: q.Window) -> Q:
    return Q(day__gte=query.start, day__lte=query.end)


def _ref(row: dict[str, Any], prefix: str = "application__") -> q.AppRef:
    return q.AppRef(id=row["application_id"], name=row[f"{prefix}name"], status=row[f"{prefix}status"],
                    gen_ai=row[f"{prefix}is_gen_ai"], category=row.get(f"{prefix}category", ""))


APP_FIELDS = ("application_id", "application__name", "application__status", "application__is_gen_ai",
              "application__category")


def new_since() -> Any:
    """Applications first used after this moment are newly seen."""
    return timezone.now() - timedelta(days=settings.SHADOW_AI_USAGE_NEW_DAYS)


def _int(value: Any) -> int:
    return int(value or 0)


def _fill(days: Sequence[date], values: dict[date, int]) -> tuple[int, ...]:
    return tuple(_int(values.get(day)) for day in days)


# --- Dashboard --------------------------------------------------------------------------------


@runner(q.SummaryQuery)
def summary(query: q.SummaryQuery) -> q.Summary:
    rows = list(
        UsageAppDay.objects.filter(_window(query), _scope(query)).values("application_id", "application__status")
        .annotate(requests=Sum("requests"), up=Sum("bytes_up"), down=Sum("bytes_down"), blocked=Sum("blocked"))
        .order_by()
    )
    by_status = {status: 0 for status in q.STATUS_ORDER}
    for row in rows:
        by_status[row["application__status"]] = by_status.get(row["application__status"], 0) + 1
    unapproved_people = (
        UsageAppPersonDay.objects.filter(_window(query), _scope(query), application__status="unapproved")
        .values("person").distinct().count()
    )
    low, _ = rollup.day_bounds(query.start)
    _, high = rollup.day_bounds(query.end)
    new = UsageAppSeen.objects.filter(_scope(query), first_at__gte=low, first_at__lt=high).count()
    return q.Summary(
        applications=len(rows), by_status=by_status,
        requests=sum(_int(r["requests"]) for r in rows), bytes_up=sum(_int(r["up"]) for r in rows),
        bytes_down=sum(_int(r["down"]) for r in rows), blocked=sum(_int(r["blocked"]) for r in rows),
        uploaded_unapproved=sum(_int(r["up"]) for r in rows if r["application__status"] == "unapproved"),
        unapproved_people=unapproved_people, new_applications=new,
    )


@runner(q.StatusSeriesQuery)
def status_series(query: q.StatusSeriesQuery) -> q.StatusSeries:
    days = query.days
    found: dict[str, dict[str, dict[date, int]]] = {"requests": {}, "up": {}, "down": {}}
    for row in (UsageAppDay.objects.filter(_window(query), _scope(query)).values("day", "application__status")
                .annotate(requests=Sum("requests"), up=Sum("bytes_up"), down=Sum("bytes_down")).order_by()):
        for metric in found:
            found[metric].setdefault(row["application__status"], {})[row["day"]] = _int(row[metric])
    return q.StatusSeries(
        days=tuple(days),
        requests={s: _fill(days, found["requests"].get(s, {})) for s in q.STATUS_ORDER},
        bytes_up={s: _fill(days, found["up"].get(s, {})) for s in q.STATUS_ORDER},
        bytes_down={s: _fill(days, found["down"].get(s, {})) for s in q.STATUS_ORDER},
    )


@runner(q.StatusPeopleQuery)
def status_people(query: q.StatusPeopleQuery) -> q.StatusPeople:
    """A person who used applications of two statuses on a day counts once under each, which is
    why this is drawn as lines, not stacked."""
    days = query.days
    found: dict[str, dict[date, int]] = {}
    for row in (UsageAppPersonDay.objects.filter(_window(query), _scope(query)).values("day", "application__status")
                .annotate(people=Count("person", distinct=True)).order_by()):
        found.setdefault(row["application__status"], {})[row["day"]] = _int(row["people"])
    return q.StatusPeople(days=tuple(days), people={s: _fill(days, found.get(s, {})) for s in q.STATUS_ORDER})


@runner(q.AppSeriesQuery)
def app_series(query: q.AppSeriesQuery) -> q.AppSeries:
    days = query.days
    per_app: dict[int, dict[date, int]] = {}
    refs: dict[int, q.AppRef] = {}
    for row in UsageAppDay.objects.filter(_window(query), _scope(query)).values("day", "users", *APP_FIELDS):
        per_app.setdefault(row["application_id"], {})[row["day"]] = row["users"]
        refs.setdefault(row["application_id"], _ref(row))
    busiest = sorted(per_app, key=lambda pk: (-sum(per_app[pk].values()), refs[pk].name))[:query.limit]
    return q.AppSeries(days=tuple(days), apps=tuple(refs[pk] for pk in busiest),
                       users=tuple(_fill(days, per_app[pk]) for pk in busiest))


def _app_rows(query: q.Window, extra: Q | None = None) -> list[q.AppRow]:
    """One row per application used in the window, busiest first."""
    extra = extra if extra is not None else Q()
    since = new_since()
    rows = []
    for row in (UsageAppDay.objects.filter(_window(query), _scope(query), extra)
                .values(*APP_FIELDS, "application__usage_seen__first_at")
                .annotate(requests=Sum("requests"), up=Sum("bytes_up"), down=Sum("bytes_down"),
                          blocked=Sum("blocked"), peak=Max("users"), days=Count("day"), first=Min("first_at"),
                          last=Max("last_at"))
                .order_by()):
        seen = row["application__usage_seen__first_at"]
        rows.append(q.AppRow(app=_ref(row), requests=_int(row["requests"]), bytes_up=_int(row["up"]),
                             bytes_down=_int(row["down"]), blocked=_int(row["blocked"]), peak_users=row["peak"],
                             days=row["days"], first_at=seen or row["first"], last_at=row["last"],
                             new=bool(seen and seen >= since)))
    rows.sort(key=lambda r: (-r.requests, r.app.name))
    return rows


@runner(q.TopAppsQuery)
def top_apps(query: q.TopAppsQuery) -> q.AppRows:
    rows = _app_rows(query)
    return q.AppRows(rows=tuple(rows[:query.limit]), total=len(rows))


@runner(q.UploadsQuery)
def uploads(query: q.UploadsQuery) -> q.AppRows:
    rows = [r for r in _app_rows(query, Q(application__status=query.status)) if r.bytes_up > 0]
    rows.sort(key=lambda r: (-r.bytes_up, r.app.name))
    return q.AppRows(rows=tuple(rows[:query.limit]), total=len(rows))


def _fetch(sql: str, params: Sequence[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _d(value: date) -> Any:
    return connection.ops.adapt_datefield_value(value)


PEOPLE_SQL = """
SELECT person, MAX(user_id), SUM({p}requests) AS requests, SUM({p}bytes_up) AS up, SUM({p}bytes_down) AS down,
       COUNT(*) AS days, MAX(last_at) AS last_at, COUNT(*) OVER () AS total
FROM {table} WHERE day >= %s AND day <= %s {where}
GROUP BY person ORDER BY {order}, person LIMIT %s OFFSET %s
"""
PEOPLE_SORTS = {"requests": "requests", "up": "up", "down": "down", "days": "days", "last": "last_at",
                "person": "person"}


def _order(sort: str, sorts: dict[str, str], default: str) -> str:
    key = sort.lstrip("-") if sort.lstrip("-") in sorts else default
    descending = sort.startswith("-") if sort.lstrip("-") in sorts else True
    return f"{sorts[key]} {'DESC' if descending else 'ASC'}"


def _people(query: q.Window, *, search: str = "", sort: str = "-requests", offset: int = 0,
            limit: int = 10) -> q.Ranking:
    prefix = "ai_" if query.scope == "ai" else ""
    where, params = "", [_d(query.start), _d(query.end)]
    if query.scope == "ai":
        where += " AND ai_requests > 0"
    if search:
        where += " AND person LIKE %s"
        params.append(f"%{search.lower()}%")
    sql = PEOPLE_SQL.format(p=prefix, table=UsagePersonDay._meta.db_table, where=where,
                            order=_order(sort, PEOPLE_SORTS, "requests"))
    found = _fetch(sql, [*params, limit, offset])
    rows = tuple(q.Ranked(key=person, label=person, user_id=user_id, requests=_int(r), bytes_up=_int(up),
                          bytes_down=_int(down), count=days, last_at=last)
                 for person, user_id, r, up, down, days, last, _ in found)
    total = found[0][-1] if found else (0 if offset == 0 else _count_people(query, where, params))
    return q.Ranking(rows=rows, total=int(total))


def _count_people(query: q.Window, where: str, params: list[Any]) -> int:
    sql = (f"SELECT COUNT(DISTINCT person) FROM {UsagePersonDay._meta.db_table} "  # noqa: S608 (our own clauses)
           f"WHERE day >= %s AND day <= %s {where}")
    return int(_fetch(sql, params)[0][0])


TOP_SQL = """
SELECT {key}, SUM({p}requests) AS requests, SUM({p}bytes_up), SUM({p}bytes_down), COUNT(*) OVER ()
FROM {table} WHERE day >= %s AND day <= %s {where}
GROUP BY {key} ORDER BY requests DESC, {key} LIMIT %s
"""


def _top(query: q.Window, table: str, key: str, limit: int) -> list[tuple]:
    """The busiest people or devices: numbers only (grouping text labels too costs twice as much)."""
    prefix, where = ("ai_", " AND ai_requests > 0") if query.scope == "ai" else ("", "")
    return _fetch(TOP_SQL.format(key=key, p=prefix, table=table, where=where),
                  [_d(query.start), _d(query.end), limit])


@runner(q.TopPeopleQuery)
def top_people(query: q.TopPeopleQuery) -> q.Ranking:
    found = _top(query, UsagePersonDay._meta.db_table, "person", query.limit)
    return q.Ranking(rows=tuple(q.Ranked(key=person, label=person, requests=_int(r), bytes_up=_int(up),
                                         bytes_down=_int(down)) for person, r, up, down, _ in found),
                     total=int(found[0][-1]) if found else 0)


@runner(q.PeopleListQuery)
def people_list(query: q.PeopleListQuery) -> q.Ranking:
    return _people(query, search=query.search, sort=query.sort, offset=query.offset, limit=query.limit)


@runner(q.TopDevicesQuery)
def top_devices(query: q.TopDevicesQuery) -> q.Ranking:
    table = UsageDeviceDay._meta.db_table
    found = _top(query, table, "device", query.limit)
    labels: dict[str, tuple] = {}
    if found:  # names and people of these few devices: one index probe per (day, device)
        days, devices = [_d(d) for d in query.days], [row[0] for row in found]
        labels = {device: (name, person, last) for device, name, person, last in _fetch(
            f"SELECT device, MAX(device_name), MAX(person), MAX(last_at) FROM {table} "  # noqa: S608
            f"WHERE day IN ({', '.join(['%s'] * len(days))}) AND device IN ({', '.join(['%s'] * len(devices))}) "
            "GROUP BY device", [*days, *devices])}
    rows = tuple(q.Ranked(key=device, label=labels.get(device, ("",))[0] or device,
                          detail=labels.get(device, ("", ""))[1] or "", requests=_int(r), bytes_up=_int(up),
                          bytes_down=_int(down), last_at=labels.get(device, ("", "", None))[2])
                 for device, r, up, down, _ in found)
    return q.Ranking(rows=rows, total=int(found[0][-1]) if found else 0)


@runner(q.TopCountriesQuery)
def top_countries(query: q.TopCountriesQuery) -> q.Ranking:
    rows = list(UsageCountryDay.objects.filter(_window(query), _scope(query)).values("country")
                .annotate(requests=Sum("requests"), up=Sum("bytes_up"), down=Sum("bytes_down"),
                          apps=Count("application_id", distinct=True))
                .order_by("-requests", "country"))
    ranked = tuple(q.Ranked(key=r["country"], label=r["country"] or "Unknown", requests=_int(r["requests"]),
                            bytes_up=_int(r["up"]), bytes_down=_int(r["down"]), count=r["apps"])
                   for r in rows[:query.limit])
    return q.Ranking(rows=ranked, total=len(rows))


@runner(q.UnmatchedHostsQuery)
def unmatched_hosts(query: q.UnmatchedHostsQuery) -> q.Ranking:
    rows = (UsageHostDay.objects.filter(_window(query)).values("host")
            .annotate(requests=Sum("requests"), up=Sum("bytes_up"), down=Sum("bytes_down"), peak=Max("users"),
                      name=Max("gateway_name"), last=Max("last_at"))
            .order_by("-requests", "host"))
    total = UsageHostDay.objects.filter(_window(query)).values("host").distinct().count()
    return q.Ranking(rows=tuple(
        q.Ranked(key=r["host"], label=r["host"], requests=_int(r["requests"]), bytes_up=_int(r["up"]),
                 bytes_down=_int(r["down"]), count=r["peak"], detail=r["name"] or "", last_at=r["last"])
        for r in rows[:query.limit]), total=total)


@runner(q.NewAppsQuery)
def new_apps(query: q.NewAppsQuery) -> q.AppRows:
    since = query.since or query.start
    low, _ = rollup.day_bounds(since)
    seen = (UsageAppSeen.objects.filter(_scope(query), first_at__gte=low)
            .values(*APP_FIELDS, "first_at", "last_at").order_by("-first_at", "application__name"))
    rows = [q.AppRow(app=_ref(r), requests=0, bytes_up=0, bytes_down=0, first_at=r["first_at"], last_at=r["last_at"],
                     new=True) for r in seen]
    return q.AppRows(rows=tuple(rows[:query.limit]), total=len(rows))


# --- Lists and details ------------------------------------------------------------------------

APP_SORTS: dict[str, Callable[[q.AppRow], Any]] = {
    "name": lambda r: r.app.name.lower(), "status": lambda r: q.STATUS_ORDER.index(r.app.status)
    if r.app.status in q.STATUS_ORDER else 9,
    "requests": lambda r: r.requests, "up": lambda r: r.bytes_up, "down": lambda r: r.bytes_down,
    "peak": lambda r: r.peak_users, "days": lambda r: r.days, "first": lambda r: r.first_at,
    "last": lambda r: r.last_at,
}


@runner(q.AppListQuery)
def app_list(query: q.AppListQuery) -> q.AppRows:
    extra = Q()
    if query.status:
        extra &= Q(application__status=query.status)
    if query.category:
        extra &= Q(application__category=query.category)
    if query.search:
        extra &= Q(application__name__icontains=query.search) | Q(application__vendor__icontains=query.search)
    if query.country:
        rows = _country_rows(query, extra)
    else:
        rows = _app_rows(query, extra)
    if query.new_since is not None:
        low, _ = rollup.day_bounds(query.new_since)
        rows = [r for r in rows if r.first_at is not None and r.first_at >= low]
    key = query.sort.lstrip("-") if query.sort.lstrip("-") in APP_SORTS else "requests"
    descending = query.sort.startswith("-") if query.sort.lstrip("-") in APP_SORTS else True
    rows.sort(key=lambda r: r.app.name.lower())
    rows.sort(key=APP_SORTS[key], reverse=descending)
    return q.AppRows(rows=tuple(rows[query.offset:query.offset + query.limit]), total=len(rows))


def _country_rows(query: q.AppListQuery, extra: Q) -> list[q.AppRow]:
    since = new_since()
    rows = []
    for row in (UsageCountryDay.objects.filter(_window(query), _scope(query), extra, country=query.country)
                .values(*APP_FIELDS, "application__usage_seen__first_at", "application__usage_seen__last_at")
                .annotate(requests=Sum("requests"), up=Sum("bytes_up"), down=Sum("bytes_down"), peak=Max("users"),
                          days=Count("day", distinct=True))
                .order_by()):
        seen = row["application__usage_seen__first_at"]
        rows.append(q.AppRow(app=_ref(row), requests=_int(row["requests"]), bytes_up=_int(row["up"]),
                             bytes_down=_int(row["down"]), peak_users=row["peak"], days=row["days"], first_at=seen,
                             last_at=row["application__usage_seen__last_at"], new=bool(seen and seen >= since)))
    return rows


@runner(q.AppUsageQuery)
def app_usage(query: q.AppUsageQuery) -> q.AppUsage:
    days = query.days
    by_day = {r["day"]: r for r in UsageAppDay.objects.filter(_window(query), application_id=query.application_id)
              .values("day", "requests", "bytes_up", "bytes_down", "users", "blocked", "first_at", "last_at")}
    people = (UsageAppPersonDay.objects.filter(_window(query), application_id=query.application_id)
              .values("person").distinct().count()) if by_day else 0
    countries = (UsageCountryDay.objects.filter(_window(query), application_id=query.application_id)
                 .values("country").annotate(requests=Sum("requests"), up=Sum("bytes_up"), down=Sum("bytes_down"),
                                             peak=Max("users"))
                 .order_by("-requests", "country")) if by_day else []
    seen = UsageAppSeen.objects.filter(application_id=query.application_id).values("first_at", "last_at").first()
    rows = by_day.values()
    return q.AppUsage(
        app_id=query.application_id,
        requests=sum(r["requests"] for r in rows), bytes_up=sum(r["bytes_up"] for r in rows),
        bytes_down=sum(r["bytes_down"] for r in rows), blocked=sum(r["blocked"] for r in rows), people=people,
        days=tuple(days),
        daily_requests=tuple(by_day[d]["requests"] if d in by_day else 0 for d in days),
        daily_users=tuple(by_day[d]["users"] if d in by_day else 0 for d in days),
        daily_up=tuple(by_day[d]["bytes_up"] if d in by_day else 0 for d in days),
        daily_down=tuple(by_day[d]["bytes_down"] if d in by_day else 0 for d in days),
        countries=tuple(q.Ranked(key=c["country"], label=c["country"] or "Unknown", requests=_int(c["requests"]),
                                 bytes_up=_int(c["up"]), bytes_down=_int(c["down"]), count=c["peak"])
                        for c in list(countries)[:10]),
        first_at=seen["first_at"] if seen else None, last_at=seen["last_at"] if seen else None,
    )


APP_PEOPLE_SQL = """
SELECT person, MAX(user_id), SUM(requests) AS requests, SUM(bytes_up) AS up, SUM(bytes_down) AS down,
       COUNT(*) AS days, MAX(last_at) AS last_at, COUNT(*) OVER ()
FROM {table} WHERE application_id = %s AND day >= %s AND day <= %s {where}
GROUP BY person ORDER BY {order}, person LIMIT %s OFFSET %s
"""


@runner(q.AppPeopleQuery)
def app_people(query: q.AppPeopleQuery) -> q.Ranking:
    where, params = "", [query.application_id, _d(query.start), _d(query.end)]
    if query.search:
        where, params = " AND person LIKE %s", [*params, f"%{query.search.lower()}%"]
    sql = APP_PEOPLE_SQL.format(table=UsageAppPersonDay._meta.db_table, where=where,
                                order=_order(query.sort, PEOPLE_SORTS, "requests"))
    found = _fetch(sql, [*params, query.limit, query.offset])
    rows = tuple(q.Ranked(key=person, label=person, user_id=user_id, requests=_int(r), bytes_up=_int(up),
                          bytes_down=_int(down), count=days, last_at=last)
                 for person, user_id, r, up, down, days, last, _ in found)
    if found:
        total = int(found[0][-1])
    elif query.offset:
        total = int(_fetch(f"SELECT COUNT(DISTINCT person) FROM {UsageAppPersonDay._meta.db_table} "  # noqa: S608
                           f"WHERE application_id = %s AND day >= %s AND day <= %s {where}", params)[0][0])
    else:
        total = 0
    return q.Ranking(rows=rows, total=total)


@runner(q.PersonUsageQuery)
def person_usage(query: q.PersonUsageQuery) -> q.PersonApps:
    since = new_since()
    rows = []
    user_id = None
    for r in (UsageAppPersonDay.objects.filter(_window(query), person=query.person)
              .values(*APP_FIELDS, "application__usage_seen__first_at")
              .annotate(requests=Sum("requests"), up=Sum("bytes_up"), down=Sum("bytes_down"), days=Count("day"),
                        last=Max("last_at"), user=Max("user_id"))
              .order_by("-requests", "application__name")):
        seen = r["application__usage_seen__first_at"]
        user_id = user_id or r["user"]
        rows.append(q.AppRow(app=_ref(r), requests=_int(r["requests"]), bytes_up=_int(r["up"]),
                             bytes_down=_int(r["down"]), days=r["days"], last_at=r["last"], first_at=seen,
                             new=bool(seen and seen >= since)))
    return q.PersonApps(person=query.person, user_id=user_id, rows=tuple(rows),
                        requests=sum(r.requests for r in rows), bytes_up=sum(r.bytes_up for r in rows),
                        bytes_down=sum(r.bytes_down for r in rows))

