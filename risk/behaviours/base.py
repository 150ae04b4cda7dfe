"""The interface every risk behaviour implements.

A behaviour is a pure function of telemetry rows and its parameters: given the events of one
source (plain dicts, sorted by time, each with ``new`` telling whether it just arrived), it says
which of them trigger it, for whom, and why. It touches no database and no clock, so the same
input always gives the same triggers (a contract test checks every behaviour for that).

To add one: subclass ``Behaviour``, fill in the class attributes, implement ``evaluate``, and
decorate it with ``@register``. Its configuration row is created on first use."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from risk.models import Level


class ParamError(ValueError):
    """A parameter value that cannot be used; the message names the parameter."""


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    kind: str  # "int", "float" or "list" (a list of strings)
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    unit: str = ""

    def clean(self, raw: Any) -> Any:
        if self.kind == "list":
            if isinstance(raw, str):
                raw = [part.strip() for part in raw.replace("\n", ",").split(",")]
            if not isinstance(raw, list | tuple) or not all(isinstance(x, str) for x in raw):
                raise ParamError(f"{self.label}: give a comma-separated list.")
            values = [x.strip() for x in raw if x.strip()]
            if not values:
                raise ParamError(f"{self.label}: give at least one value.")
            return values
        try:
            value = int(raw) if self.kind == "int" else float(raw)
        except (TypeError, ValueError):
            raise ParamError(f"{self.label}: {raw!r} is not a number.") from None
        if self.kind == "int" and isinstance(raw, float) and raw != int(raw):
            raise ParamError(f"{self.label}: give a whole number.")
        if self.minimum is not None and value < self.minimum:
            raise ParamError(f"{self.label}: must be at least {self.minimum:g}.")
        if self.maximum is not None and value > self.maximum:
            raise ParamError(f"{self.label}: must be at most {self.maximum:g}.")
        return value


@dataclass(frozen=True)
class Trigger:
    """One detection. ``dedupe`` is unique per behaviour: the same telemetry never triggers the
    same behaviour twice, however often it is evaluated."""

    user_id: int
    at: datetime
    source_id: int
    summary: str
    dedupe: str
    details: Mapping[str, Any] = field(default_factory=dict)


class Behaviour(ABC):
    key: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str]
    default_level: ClassVar[Level]
    source: ClassVar[str]  # a RiskEvent.SourceKind value: which telemetry it reads
    params: ClassVar[tuple[Param, ...]] = ()
    requirement: ClassVar[str] = ""  # what must be connected for it to see anything

    def context_seconds(self, params: Mapping[str, Any]) -> tuple[int, int]:
        """How much earlier and later telemetry of the same people ``evaluate`` needs around
        the new events (windows, travel pairs). ``(0, 0)``: the new events alone."""
        return (0, 0)

    @abstractmethod
    def evaluate(self, events: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[Trigger]:
        """The triggers among ``events`` (a pure function: same input, same triggers)."""

    def default_params(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def clean_params(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Known parameters, validated; unknown names are refused (a typo must not pass silently)."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ParamError(f"Unknown parameter(s) for {self.name}: {', '.join(unknown)}.")
        cleaned = self.default_params()
        for name, value in raw.items():
            cleaned[name] = known[name].clean(value)
        return cleaned


REGISTRY: dict[str, Behaviour] = {}


def register(cls: type[Behaviour]) -> type[Behaviour]:
    if cls.key in REGISTRY:
        raise ValueError(f"risk behaviour {cls.key!r} registered twice")
    REGISTRY[cls.key] = cls()
    return cls


def by_source(source: str) -> list[Behaviour]:
    return [b for b in REGISTRY.values() if b.source == source]


def first_per_dedupe(triggers: list[Trigger]) -> list[Trigger]:
    """One trigger per dedupe key (the earliest), whatever order the rows came in."""
    best: dict[str, Trigger] = {}
    for trigger in triggers:
        known = best.get(trigger.dedupe)
        if known is None or (trigger.at, trigger.source_id) < (known.at, known.source_id):
            best[trigger.dedupe] = trigger
    return sorted(best.values(), key=lambda t: (t.at, t.source_id))


def count_in_window(
    events: Sequence[Mapping[str, Any]], *, threshold: int, window_seconds: int,
) -> list[tuple[Mapping[str, Any], int]]:
    """Per person, the events at which ``threshold`` or more of the given events fell within
    ``window_seconds`` (ending at that event). After a crossing, the next one needs a fresh
    window, so a long burst is one detection per window, not one per event."""
    by_user: dict[int, list[Mapping[str, Any]]] = {}
    for event in events:
        by_user.setdefault(event["user_id"], []).append(event)
    crossings: list[tuple[Mapping[str, Any], int]] = []
    for rows in by_user.values():
        rows.sort(key=lambda e: (e["at"], e["id"]))
        start = 0
        quiet_until = None
        for end, event in enumerate(rows):
            while (event["at"] - rows[start]["at"]).total_seconds() > window_seconds:
                start += 1
            count = end - start + 1
            if count >= threshold and (quiet_until is None or event["at"] > quiet_until):
                crossings.append((event, count))
                quiet_until = event["at"] + timedelta(seconds=window_seconds)
    return crossings
