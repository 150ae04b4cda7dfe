"""What the usage pages ask (frozen query dataclasses: hashable, the cache key is a hash of one)
and what they get back (result dataclasses: plain values, picklable for the cache).

Every query names its days explicitly (``start``/``end``, inclusive), so "the last 30 days" is a
different query tomorrow and a cached answer never outlives its day. ``scope`` is ``ai``
(generative AI applications: the Shadow AI view) or ``all`` (every library application: the
Shadow IT view)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

SCOPES = ("ai", "all")
STATUS_ORDER = ("approved", "in_review", "unreviewed", "unapproved")


@dataclass(frozen=True)
class Window:
    start: date
    end: date
    scope: str = "ai"

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}")
        if self.end < self.start:
            raise ValueError("end is before start")

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


# --- Queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryQuery(Window):
    """Tiles: applications used (by status), requests, data, uploads to unapproved applications,
    people who used unapproved ones, newly seen applications."""


@dataclass(frozen=True)
class StatusSeriesQuery(Window):
    """Requests and data per approval status per day."""


@dataclass(frozen=True)
class StatusPeopleQuery(Window):
    """Distinct people per approval status per day (read from the per-person rollup, so it is
    loaded apart from the dashboard's other panels)."""


@dataclass(frozen=True)
class AppSeriesQuery(Window):
    """Distinct people per day for the ``limit`` busiest applications."""

    limit: int = 8


@dataclass(frozen=True)
class TopAppsQuery(Window):
    limit: int = 12


@dataclass(frozen=True)
class UploadsQuery(Window):
    """Data uploaded to applications of one approval status (unapproved by default)."""

    status: str = "unapproved"
    limit: int = 12


@dataclass(frozen=True)
class TopPeopleQuery(Window):
    limit: int = 10


@dataclass(frozen=True)
class TopDevicesQuery(Window):
    limit: int = 10


@dataclass(frozen=True)
class TopCountriesQuery(Window):
    limit: int = 12


@dataclass(frozen=True)
class UnmatchedHostsQuery(Window):
    """Hostnames no library application covers (scope does not apply)."""

    limit: int = 15


@dataclass(frozen=True)
class NewAppsQuery(Window):
    """Applications first used on or after ``since`` (the newly seen ones)."""

    since: date | None = None
    limit: int = 20


@dataclass(frozen=True)
class AppListQuery(Window):
    """Applications in use, filtered, sorted and paged."""

    status: str = ""
    category: str = ""
    country: str = ""
    new_since: date | None = None
    search: str = ""
    sort: str = "-requests"
    offset: int = 0
    limit: int = 25


@dataclass(frozen=True)
class PeopleListQuery(Window):
    search: str = ""
    sort: str = "-requests"
    offset: int = 0
    limit: int = 25


@dataclass(frozen=True)
class AppUsageQuery(Window):
    """One application: totals, its days, its countries."""

    application_id: int = 0


@dataclass(frozen=True)
class AppPeopleQuery(Window):
    """The people who used one application, sorted and paged."""

    application_id: int = 0
    search: str = ""
    sort: str = "-requests"
    offset: int = 0
    limit: int = 25


@dataclass(frozen=True)
class PersonUsageQuery(Window):
    """One person: the applications they used."""

    person: str = ""


# --- Results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    applications: int
    by_status: dict[str, int]
    requests: int
    bytes_up: int
    bytes_down: int
    blocked: int
    uploaded_unapproved: int
    unapproved_people: int
    new_applications: int


@dataclass(frozen=True)
class StatusSeries:
    days: tuple[date, ...]
    requests: dict[str, tuple[int, ...]]  # status → one value per day
    bytes_up: dict[str, tuple[int, ...]]
    bytes_down: dict[str, tuple[int, ...]]

    @property
    def empty(self) -> bool:
        return not any(any(v) for v in self.requests.values())


@dataclass(frozen=True)
class StatusPeople:
    days: tuple[date, ...]
    people: dict[str, tuple[int, ...]]  # status → distinct people per day

    @property
    def empty(self) -> bool:
        return not any(any(v) for v in self.people.values())


@dataclass(frozen=True)
class AppRef:
    id: int
    name: str
    status: str
    gen_ai: bool
    category: str = ""


@dataclass(frozen=True)
class AppSeries:
    days: tuple[date, ...]
    apps: tuple[AppRef, ...]
    users: tuple[tuple[int, ...], ...]  # per app, one value per day


@dataclass(frozen=True)
class AppRow:
    app: AppRef
    requests: int
    bytes_up: int
    bytes_down: int
    blocked: int = 0
    peak_users: int = 0  # the busiest day's distinct people
    days: int = 0  # days with use
    first_at: datetime | None = None
    last_at: datetime | None = None
    new: bool = False


@dataclass(frozen=True)
class AppRows:
    rows: tuple[AppRow, ...]
    total: int  # rows before the limit


@dataclass(frozen=True)
class Ranked:
    """A ranking (people, devices, countries, hosts): ``key`` identifies, ``label`` shows."""

    key: str
    label: str
    requests: int
    bytes_up: int
    bytes_down: int
    detail: str = ""  # a person's device count, a device's person, a host's gateway name
    count: int = 0  # applications used, or the busiest day's people
    user_id: int | None = None
    last_at: datetime | None = None


@dataclass(frozen=True)
class Ranking:
    rows: tuple[Ranked, ...]
    total: int  # entities in the window (people, devices, …), before the limit


@dataclass(frozen=True)
class AppUsage:
    app_id: int
    requests: int
    bytes_up: int
    bytes_down: int
    blocked: int
    people: int  # distinct over the window
    days: tuple[date, ...]
    daily_requests: tuple[int, ...]
    daily_users: tuple[int, ...]
    daily_up: tuple[int, ...]
    daily_down: tuple[int, ...]
    countries: tuple[Ranked, ...] = field(default_factory=tuple)
    first_at: datetime | None = None
    last_at: datetime | None = None


@dataclass(frozen=True)
class PersonApps:
    person: str
    user_id: int | None
    rows: tuple[AppRow, ...]
    requests: int
    bytes_up: int
    bytes_down: int
