"""Risk behaviours fed by AI prompt protection (``shadow_ai.prompts``), through the audit trail."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from risk.behaviours.base import Behaviour, Param, Trigger, register
from risk.models import Level

JAILBREAK_ACTION = "shadow_ai.prompt.jailbreak_attempt"


def _earlier(event: Mapping[str, Any]) -> list[datetime]:
    found = []
    for value in (event["changes"] or {}).get("earlier") or []:
        try:
            found.append(datetime.fromisoformat(value))
        except (TypeError, ValueError):
            continue
    return found


@register
class RepeatedJailbreakAttempts(Behaviour):
    """Each attempt's audit event lists the person's earlier attempts of the last 24 hours, so
    counting needs nothing but the event. A burst triggers once, when it reaches the threshold;
    the attempts after it within the same window do not trigger again."""

    key = "repeated_jailbreak_attempts"
    name = "Repeated jailbreak or prompt-injection attempts"
    description = ("Several prompts to AI applications that the prompt classifier marks as a jailbreak or prompt "
                   "injection (Medium confidence or more) within a short time.")
    default_level = Level.HIGH
    source = "audit"
    requirement = "Built in: AI prompt protection (prompts sent through the gateway or the evaluate API)"
    params = (
        Param("threshold", "Attempts", "int", 3, 2, 1000),
        Param("window_minutes", "Within", "int", 60, 1, 1440, unit="minutes"),
    )

    def evaluate(self, events: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[Trigger]:
        window = timedelta(minutes=params["window_minutes"])
        triggers = []
        for event in events:
            if not event["new"] or event["action"] != JAILBREAK_ACTION:
                continue
            count = 1 + sum(1 for at in _earlier(event) if event["at"] - window <= at < event["at"])
            if count != params["threshold"]:
                continue
            changes = event["changes"] or {}
            triggers.append(Trigger(
                user_id=event["user_id"], at=event["at"], source_id=event["id"], dedupe=str(event["id"]),
                summary=f"{count} jailbreak or prompt-injection attempts within {params['window_minutes']} minutes",
                details={"attempts": count, "window_minutes": params["window_minutes"],
                         "application": changes.get("application", ""), "confidence": changes.get("confidence", "")},
            ))
        return triggers
