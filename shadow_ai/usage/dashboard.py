"""What the Shadow AI / Shadow IT dashboard shows: the time ranges of its picker and the
queries of its panels, in one place so the page, the cache warmer and the benchmark agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings

from shadow_ai.usage import queries as q
from shadow_ai.usage import rollup

RANGES = {"1d": ("Today", 1), "7d": ("7 days", 7), "30d": ("30 days", 30), "90d": ("90 days", 90)}
DEFAULT_RANGE = "30d"
WARM_RANGES = ("7d", "30d")
MAX_DAYS = 400


@dataclass(frozen=True)
class Period:
    key: str  # a RANGES key or "custom"
    start: date
    end: date

    @property
    def label(self) -> str:
        if self.key in RANGES:
            return RANGES[self.key][0] if self.key != "1d" else f"Today ({self.end:%Y-%m-%d})"
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"

    @property
    def length(self) -> int:
        return (self.end - self.start).days + 1

    def params(self) -> dict[str, str]:
        """The query string that gives this period again (for links)."""
        if self.key == "custom":
            return {"range": "custom", "start": self.start.isoformat(), "end": self.end.isoformat()}
        return {"range": self.key}


def resolve_range(key: str, start: date | None = None, end: date | None = None, *,
                  today: date | None = None) -> Period:
    """A picker choice as days (in ``TIME_ZONE``): the last N days up to today, or the custom
    days (inclusive). Callers validate custom input first (``forms.RangeForm``)."""
    today = today or rollup.today()
    if key == "custom" and start is not None and end is not None:
        return Period("custom", start, end)
    days = RANGES.get(key, RANGES[DEFAULT_RANGE])[1]
    return Period(key if key in RANGES else DEFAULT_RANGE, today - timedelta(days=days - 1), today)


def newly_seen_since(today: date) -> date:
    """The first day of the "newly seen" window (``SHADOW_AI_USAGE_NEW_DAYS``, today included)."""
    return today - timedelta(days=settings.SHADOW_AI_USAGE_NEW_DAYS - 1)


def dashboard_queries(period: Period, scope: str) -> dict[str, Any]:
    """Every panel of the dashboard, by name."""
    window = {"start": period.start, "end": period.end, "scope": scope}
    return {
        "summary": q.SummaryQuery(**window),
        "status_series": q.StatusSeriesQuery(**window),
        "app_series": q.AppSeriesQuery(**window),
        "top_apps": q.TopAppsQuery(**window),
        "uploads": q.UploadsQuery(**window),
        "people": q.TopPeopleQuery(**window),
        "devices": q.TopDevicesQuery(**window),
        "countries": q.TopCountriesQuery(**window),
        "hosts": q.UnmatchedHostsQuery(**window),
        "new_apps": q.NewAppsQuery(**window, since=newly_seen_since(period.end)),
    }


def deferred_queries(period: Period, scope: str) -> dict[str, Any]:
    """Panels the dashboard loads after the page (slower on a cold cache), by name."""
    return {"status_people": q.StatusPeopleQuery(start=period.start, end=period.end, scope=scope)}
