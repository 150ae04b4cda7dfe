"""Charts of risk pages: plotly figures built here, drawn in the browser by the vendored
plotly.js (static/js/charts.js reads the figure from a JSON script element)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from risk import selectors
from risk.models import Level, RiskEvent, RiskLevelChange

COLOURS = {0: "#8a94a6", 1: "#2f9e44", 2: "#f08c00", 3: "#e03131"}
TICKS = [int(v) for v in Level.values]
LABELS = [Level(v).label for v in Level.values]


def timeline(person: User, *, limit: int = 500) -> dict[str, Any] | None:
    """Behaviour triggers (dots, at the level they were triggered at) and the score over time
    (a step line through every change and reset). ``None`` when there is nothing to draw."""
    events = list(RiskEvent.objects.filter(user=person).order_by("-at")[:limit])
    changes = list(RiskLevelChange.objects.filter(user=person).order_by("at", "id"))
    if not events and not changes:
        return None
    figure = go.Figure()
    if changes:
        xs = [changes[0].at] + [c.at for c in changes] + [timezone.now()]
        ys = [changes[0].previous] + [c.current for c in changes] + [changes[-1].current]
        figure.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", line={"shape": "hv", "width": 2, "color": "#364fc7"}, name="Score",
            hovertemplate="%{x|%Y-%m-%d %H:%M}<extra>score</extra>",
        ))
        resets = [c for c in changes if c.cause == RiskLevelChange.Cause.RESET]
        if resets:
            figure.add_trace(go.Scatter(
                x=[c.at for c in resets], y=[0] * len(resets), mode="markers", name="Reset",
                marker={"symbol": "diamond", "size": 12, "color": "#364fc7"},
                text=[f"Reset by {c.actor_email}: {c.reason}" for c in resets],
                hovertemplate="%{text}<extra></extra>",
            ))
    by_behaviour: dict[str, list[RiskEvent]] = {}
    for event in reversed(events):
        by_behaviour.setdefault(event.behaviour, []).append(event)
    for key, items in by_behaviour.items():
        figure.add_trace(go.Scatter(
            x=[e.at for e in items], y=[e.level for e in items], mode="markers",
            name=selectors.behaviour_name(key),
            marker={"size": 11, "color": [COLOURS[e.level] for e in items], "line": {"width": 1, "color": "#fff"}},
            text=[e.summary for e in items],
            customdata=[_log_url(e) for e in items],
            hovertemplate="%{x|%Y-%m-%d %H:%M}<br>%{text}<extra>%{fullData.name}</extra>",
        ))
    figure.update_layout(
        height=300, margin={"l": 70, "r": 20, "t": 10, "b": 40}, showlegend=True,
        legend={"orientation": "h", "y": -0.25},
        yaxis={"tickvals": TICKS, "ticktext": LABELS, "range": [-0.3, 3.3], "fixedrange": True},
        xaxis={"type": "date"}, plot_bgcolor="#fff", paper_bgcolor="#fff",
    )
    return figure.to_plotly_json()


def _log_url(event: RiskEvent) -> str:
    if event.source_kind == RiskEvent.SourceKind.AUDIT:
        return ""
    return reverse("risk:telemetry-row", args=[event.source_kind, event.source_id])
