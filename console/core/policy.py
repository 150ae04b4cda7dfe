"""What the two policy engines share: the Access decision engine (``console.access.engine``)
and the Gateway HTTP policy engine (``shadow_ai.gateway.engine``).

Plain Python, no Django: the device facts both engines test, the readers of a rule's stored
configuration (value lists, group ids, risk levels, device-posture checks) with one error type,
and the trace an engine's ``explain`` records, policy by policy and rule by rule.

One rule for the lowest EDR score a posture check asks for: a whole number from 0 to 100, given
as a number or as a string of digits (``"85"``, as a form or an import may store it); anything
else (a fraction, ``true``, ``"high"``) is refused when the policy is compiled."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RISK_LEVELS = ("low", "medium", "high", "unscored")


class RuleError(ValueError):
    """A rule's configuration is invalid; the message says which value and why."""


@dataclass(frozen=True)
class DevicePosture:
    """What the console knows of the device a request comes from."""

    device_id: str
    managed: bool = False
    os: str = ""
    os_version: str = ""
    disk_encrypted: bool = False
    edr_score: int | None = None


# --- Reading a rule's configuration ----------------------------------------------------------


def values(config: Mapping[str, Any], name: str = "values") -> list:
    """The non-empty list stored under ``name``."""
    found = config.get(name)
    if not isinstance(found, list) or not found:
        raise RuleError(f"needs a non-empty list of {name}")
    return found


def strings(config: Mapping[str, Any], *, lower: bool = True) -> frozenset[str]:
    """The rule's values as stripped (and by default lower-cased) non-empty strings."""
    out = set()
    for value in values(config):
        if not isinstance(value, str) or not value.strip():
            raise RuleError(f"{value!r} is not a text value")
        out.add(value.strip().lower() if lower else value.strip())
    return frozenset(out)


def group_ids(config: Mapping[str, Any]) -> frozenset[int]:
    ids = []
    for value in values(config):
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise RuleError(f"{value!r} is not a group id") from None
    return frozenset(ids)


def risk_levels(config: Mapping[str, Any]) -> frozenset[str]:
    levels = strings(config)
    unknown = levels - set(RISK_LEVELS)
    if unknown:
        raise RuleError(f"unknown risk level(s) {', '.join(sorted(unknown))}; use {', '.join(RISK_LEVELS)}")
    return levels


def edr_threshold(value: Any) -> int | None:
    """The lowest EDR score a posture check asks for, ``None`` when it asks for none (see the
    module's docstring for the rule)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise RuleError("min_edr_score must be a whole number from 0 to 100")
    return value


PostureCheck = tuple[str, Callable[[DevicePosture], bool]]


def posture_checks(config: Mapping[str, Any]) -> list[PostureCheck]:
    """The checks both engines offer (managed, disk encrypted, lowest EDR score), each with the
    words that describe it. A device without an EDR score fails a score check."""
    checks: list[PostureCheck] = []
    if config.get("managed"):
        checks.append(("managed", lambda d: d.managed))
    if config.get("disk_encrypted"):
        checks.append(("disk encrypted", lambda d: d.disk_encrypted))
    threshold = edr_threshold(config.get("min_edr_score"))
    if threshold is not None:
        checks.append((f"EDR score ≥ {threshold}", lambda d: d.edr_score is not None and d.edr_score >= threshold))
    return checks


def posture_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration of the checks ``posture_checks`` reads, from a form's cleaned data:
    only the checks asked for."""
    config: dict[str, Any] = {}
    if data.get("managed"):
        config["managed"] = True
    if data.get("disk_encrypted"):
        config["disk_encrypted"] = True
    if data.get("min_edr_score") is not None:
        config["min_edr_score"] = data["min_edr_score"]
    return config


# --- Traces ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleTrace:
    """One rule of one policy as ``explain`` saw it. ``kind`` is the list it is in (Access:
    include, require, exclude; Gateway: condition); ``type`` is the selector or condition type."""

    kind: str
    type: str
    label: str
    matched: bool


@dataclass(frozen=True)
class PolicyTrace:
    policy_id: int
    name: str
    action: str
    result: str  # "matched", "not matched", "step-up" (Access), "skipped"
    rules: tuple[RuleTrace, ...] = ()
    note: str = ""
