"""Plotly figures of usage results, drawn in the browser by the vendored plotly.js
(``static/js/charts.js``). Every bar and line point carries the URL to drill down to in
``customdata``: clicking opens it (the application's page, a person's, the filtered list).

Figures are written as plotly's JSON (``{"data": [traces], "layout": {...}}``) directly:
``plotly.graph_objects`` validates every property on every build, which cost more than all the
dashboard's queries together. The tests check each figure against plotly's schema instead."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.urls import reverse
from django.utils.http import urlencode

from shadow_ai.models import Status
from shadow_ai.usage import queries as q

STATUS_COLOURS = {"approved": "#2f9e44", "in_review": "#f08c00", "unreviewed": "#8a94a6", "unapproved": "#e03131"}
STATUS_LABELS = dict(Status.choices)
PALETTE = ["#364fc7", "#e8590c", "#0ca678", "#ae3ec9", "#1098ad", "#f59f00", "#d6336c", "#5c940d", "#495057",
           "#1971c2"]
Params = dict[str, str]


def _figure(traces: list[dict[str, Any]], *, height: int = 300, **extra: Any) -> dict[str, Any]:
    layout = {"height": height, "margin": {"l": 60, "r": 20, "t": 10, "b": 40}, "plot_bgcolor": "#fff",
              "paper_bgcolor": "#fff", "legend": {"orientation": "h", "y": -0.2},
              "font": {"family": "system-ui, sans-serif", "size": 12}}
    return {"data": traces, "layout": {**layout, **extra}}


def human_bytes(value: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def app_url(app_id: int, params: Params) -> str:
    return f"{reverse('shadow_ai:app-detail', args=[app_id])}?{urlencode(params)}#usage"


def person_url(person: str, params: Params) -> str:
    return f"{reverse('shadow_ai:usage-person')}?{urlencode({'person': person, **params})}"


def list_url(params: Params, **filters: str) -> str:
    return f"{reverse('shadow_ai:usage-apps')}?{urlencode({**params, **filters})}"


def status_series(result: q.StatusSeries, *, metric: str, params: Params, scope: str) -> dict[str, Any] | None:
    """Stacked bars per day by approval status (``metric``: requests, bytes_up, bytes_down)."""
    values = getattr(result, metric)
    if not any(any(v) for v in values.values()):
        return None
    traces = []
    is_bytes = metric != "requests"
    days = [d.isoformat() for d in result.days]
    for status in q.STATUS_ORDER:
        ys = values.get(status, ())
        if not any(ys):
            continue
        target = list_url({**params, "scope": scope}, status=status)
        trace = {"type": "bar", "x": days, "y": list(ys), "name": STATUS_LABELS[status],
                 "marker": {"color": STATUS_COLOURS[status]}, "customdata": [target] * len(ys), "textposition": "none",
                 "hovertemplate": "%{x}<br>" + ("%{text}" if is_bytes else "%{y:,} requests")
                 + "<extra>%{fullData.name}</extra>"}
        if is_bytes:
            trace["text"] = [human_bytes(v) for v in ys]
        traces.append(trace)
    return _figure(traces, barmode="stack", xaxis={"type": "date"},
                   yaxis={"title": {"text": "bytes" if is_bytes else "requests"}, "rangemode": "tozero"})


def status_people(result: q.StatusPeople, *, params: Params, scope: str) -> dict[str, Any] | None:
    """Distinct people per day, one line per approval status (not stacked: one person can use
    applications of several statuses on the same day)."""
    if result.empty:
        return None
    days = [d.isoformat() for d in result.days]
    traces = []
    for status in q.STATUS_ORDER:
        ys = result.people.get(status, ())
        if not any(ys):
            continue
        target = list_url({**params, "scope": scope}, status=status)
        traces.append({"type": "scatter", "x": days, "y": list(ys), "name": STATUS_LABELS[status],
                       "mode": "lines+markers", "line": {"color": STATUS_COLOURS[status], "width": 2},
                       "marker": {"size": 6}, "customdata": [target] * len(ys),
                       "hovertemplate": "%{x}<br>%{y:,} people<extra>%{fullData.name}</extra>"})
    return _figure(traces, xaxis={"type": "date"}, yaxis={"title": {"text": "people"}, "rangemode": "tozero"})


def app_series(result: q.AppSeries, *, params: Params) -> dict[str, Any] | None:
    """Distinct people per day, one line per application."""
    if not result.apps:
        return None
    days = [d.isoformat() for d in result.days]
    traces = [{"type": "scatter", "x": days, "y": list(users), "name": app.name, "mode": "lines+markers",
               "line": {"color": PALETTE[n % len(PALETTE)], "width": 2}, "marker": {"size": 6},
               "customdata": [app_url(app.id, params)] * len(users),
               "hovertemplate": "%{x}<br>%{y} people<extra>%{fullData.name}</extra>"}
              for n, (app, users) in enumerate(zip(result.apps, result.users, strict=True))]
    return _figure(traces, height=300 + 22 * ((len(traces) + 1) // 2), xaxis={"type": "date"},
                   yaxis={"title": {"text": "people"}, "rangemode": "tozero"},
                   legend={"orientation": "h", "y": -0.15, "yanchor": "top"})


def _hbar(labels: Sequence[str], values: Sequence[float], urls: Sequence[str], *, colours: Sequence[str] | str,
          text: Sequence[str], axis: str) -> dict[str, Any]:
    trace = {"type": "bar", "x": list(values)[::-1], "y": list(labels)[::-1], "orientation": "h",
             "customdata": list(urls)[::-1],
             "marker": {"color": list(colours)[::-1] if not isinstance(colours, str) else colours},
             "text": list(text)[::-1], "textposition": "auto", "hovertemplate": "%{y}: %{text}<extra></extra>"}
    return _figure([trace], height=max(160, 30 * len(labels) + 60), margin={"l": 180, "r": 20, "t": 10, "b": 40},
                   xaxis={"title": {"text": axis}, "rangemode": "tozero"}, yaxis={"automargin": True},
                   showlegend=False)


def top_apps(result: q.AppRows, *, params: Params) -> dict[str, Any] | None:
    if not result.rows:
        return None
    rows = result.rows
    return _hbar([r.app.name for r in rows], [r.requests for r in rows], [app_url(r.app.id, params) for r in rows],
                 colours=[STATUS_COLOURS.get(r.app.status, "#364fc7") for r in rows],
                 text=[f"{r.requests:,} requests · {STATUS_LABELS.get(r.app.status, r.app.status)}" for r in rows],
                 axis="requests")


def uploads(result: q.AppRows, *, params: Params) -> dict[str, Any] | None:
    rows = result.rows
    if not rows:
        return None
    return _hbar([r.app.name for r in rows], [r.bytes_up for r in rows], [app_url(r.app.id, params) for r in rows],
                 colours="#e03131", text=[human_bytes(r.bytes_up) for r in rows], axis="bytes uploaded")


def ranking(result: q.Ranking, *, url: Callable[[q.Ranked], str], colour: str = "#364fc7") -> dict[str, Any] | None:
    """Busiest first; a row's ``detail`` (a device's person) is shown with its numbers."""
    rows = result.rows
    if not rows:
        return None
    return _hbar([r.label for r in rows], [r.requests for r in rows], [url(r) for r in rows], colours=colour,
                 text=[f"{r.requests:,} requests · {human_bytes(r.bytes_up)} up"
                       + (f" · {r.detail}" if r.detail else "") for r in rows],
                 axis="requests")


def app_usage(result: q.AppUsage) -> dict[str, Any] | None:
    """One application: requests per day (bars) and distinct people per day (line, right axis)."""
    if not result.requests:
        return None
    xs = [d.isoformat() for d in result.days]
    return _figure(
        [{"type": "bar", "x": xs, "y": list(result.daily_requests), "name": "Requests", "marker": {"color": "#91a7ff"},
          "hovertemplate": "%{x}<br>%{y:,} requests<extra></extra>"},
         {"type": "scatter", "x": xs, "y": list(result.daily_users), "name": "People", "yaxis": "y2",
          "mode": "lines+markers", "line": {"color": "#e8590c", "width": 2},
          "hovertemplate": "%{x}<br>%{y} people<extra></extra>"}],
        xaxis={"type": "date"}, yaxis={"title": {"text": "requests"}, "rangemode": "tozero"},
        yaxis2={"title": {"text": "people"}, "overlaying": "y", "side": "right", "rangemode": "tozero"})
