"""Which earlier Gateway policy makes a policy unreachable.

A policy can never match when a policy evaluated before it (``engine.evaluation_order``: Do Not
Inspect first, then top-down), enabled, decides every request the later one would match: each of
the earlier policy's conditions holds whenever all of the later one's hold, and the earlier
policy always decides when it matches (a Redirect does not for requests to its own target).

The comparison reads the stored conditions, never a request, and is sound rather than complete:
it answers only what it can prove ("Status is Unapproved" covers "Status is Unapproved and
Generative AI"; "Host is example.com" covers "Host is chat.example.com"), so a warning is never
wrong, and a condition type it does not know covers only an identical condition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from shadow_ai.gateway.engine import Action
from shadow_ai.models import GatewayPolicy

Config = Mapping[str, Any]


@dataclass(frozen=True)
class PolicyShape:
    """A policy as the comparison needs it; ``pk`` None for one not saved yet."""

    pk: int | None
    name: str
    position: int
    action: str
    conditions: tuple[Config, ...]
    enabled: bool = True
    target_key: str | None = None  # a Redirect's target application


# --- One condition implies another ----------------------------------------------------------


def _values(config: Config, kind: str) -> frozenset:
    raw = config.get("values")
    if raw is None and "value" in config:
        raw = [config["value"]]
    if isinstance(raw, str):
        raw = [raw]
    values = [str(v).strip().lower() for v in raw or () if v is not None]
    if kind == "status":
        values = [v.replace(" ", "_") for v in values]
    return frozenset(values)


def _negated(config: Config) -> bool:
    return config.get("operator", "in") == "not_in"


def _within_hosts(host: str, hosts: Iterable[str]) -> bool:
    return any(host == h or host.endswith("." + h) for h in hosts)


def _within_emails(entry: str, entries: frozenset[str]) -> bool:
    if entry in entries:
        return True
    return not entry.startswith("@") and "@" + entry.rpartition("@")[2] in entries


def _subset_for(kind: str) -> Callable[[frozenset, frozenset], bool]:
    """``covered(narrow, wide)``: every value ``narrow`` matches, ``wide`` matches too."""
    if kind == "hostname":
        return lambda narrow, wide: all(_within_hosts(h, wide) for h in narrow)
    if kind == "user_email":
        return lambda narrow, wide: all(_within_emails(e, wide) for e in narrow)
    return lambda narrow, wide: narrow <= wide


# Conditions on one value each request has (at most one application, one status, one risk level):
# "is one of Y" then rules out every value outside Y. Not groups (a person is in several), hosts
# (subdomains) or DLP profiles (several can trigger).
SINGLE_VALUED = frozenset({"application", "category", "status", "risk_score"})
MEMBERSHIP = SINGLE_VALUED | {"group", "hostname", "user_email", "dlp_profile"}


def _membership_implies(later: Config, earlier: Config, kind: str) -> bool:
    narrow, wide = _values(later, kind), _values(earlier, kind)
    covered = _subset_for(kind)
    if not _negated(later) and not _negated(earlier):
        return bool(narrow) and covered(narrow, wide)
    if _negated(later) and _negated(earlier):
        return covered(wide, narrow)
    if not _negated(later) and _negated(earlier) and kind in SINGLE_VALUED:
        return bool(narrow) and narrow.isdisjoint(wide)
    return False


def _number(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _score_implies(later: Config, earlier: Config) -> bool:
    """Both "score below/above a threshold": the later range lies inside the earlier one."""
    ops = (later.get("comparison"), earlier.get("comparison"))
    a, b = _number(later.get("value")), _number(earlier.get("value"))
    if a is None or b is None or (later.get("match_unscored") and not earlier.get("match_unscored")):
        return False
    if ops in (("lt", "lt"), ("lte", "lte"), ("lt", "lte"), ("gt", "gt"), ("gte", "gte"), ("gt", "gte")):
        return a <= b if ops[0] in ("lt", "lte") else a >= b
    if ops == ("lte", "lt"):
        return a < b
    if ops == ("gte", "gt"):
        return a > b
    return False


def _comparable(config: Config) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "labels"}


def condition_implies(later: Config, earlier: Config) -> bool:
    """Whenever ``later`` holds, ``earlier`` holds (provably, from the two configurations)."""
    kind = later.get("type")
    if kind != earlier.get("type"):
        return False
    if _comparable(later) == _comparable(earlier):
        return True
    if kind in MEMBERSHIP:
        return _membership_implies(later, earlier, kind)
    if kind in ("saas_score", "genai_score"):
        return _score_implies(later, earlier)
    return False  # gen_ai, device posture and anything newer: identical only (above)


# --- One policy shadows another -------------------------------------------------------------


def _never_for(conditions: Sequence[Config], app_key: str) -> bool:
    """The conditions rule out requests to the application ``app_key``."""
    for config in conditions:
        if config.get("type") != "application":
            continue
        values = _values(config, "application")
        if (app_key.lower() in values) == _negated(config):
            return True
    return False


def covers(earlier: PolicyShape, later: PolicyShape) -> bool:
    """``earlier`` matches and decides every request ``later`` matches."""
    if not earlier.conditions or not later.conditions:
        return False
    if earlier.action == Action.REDIRECT and earlier.target_key and not _never_for(later.conditions,
                                                                                earlier.target_key):
        return False  # a Redirect lets requests to its own target through to later policies
    return all(any(condition_implies(mine, theirs) for mine in later.conditions) for theirs in earlier.conditions)


def _evaluated_before(policies: Sequence[PolicyShape], policy: PolicyShape) -> list[PolicyShape]:
    """The enabled policies evaluated before ``policy`` (Do Not Inspect first, then by position)."""
    def key(p: PolicyShape) -> tuple[int, int]:
        return (0 if p.action == Action.DO_NOT_INSPECT else 1, p.position)

    mine = key(policy)
    return sorted((p for p in policies if p.enabled and p.pk != policy.pk and key(p) < mine), key=key)


def shadowed_by(policies: Sequence[PolicyShape], policy: PolicyShape) -> PolicyShape | None:
    """The first policy evaluated before ``policy`` that leaves it nothing to match, or None."""
    return next((p for p in _evaluated_before(policies, policy) if covers(p, policy)), None)


# --- Stored policies ------------------------------------------------------------------------


def _shapes() -> list[PolicyShape]:
    rows = GatewayPolicy.objects.order_by("position", "pk").values_list(
        "pk", "name", "position", "action", "conditions", "enabled", "target__key")
    return [PolicyShape(pk, name, position, action, tuple(c for c in conditions or () if isinstance(c, Mapping)),
                        enabled, target) for pk, name, position, action, conditions, enabled, target in rows]


def shadowing_policy(policy: GatewayPolicy) -> PolicyShape | None:
    """The earlier policy that keeps the stored ``policy`` from ever matching, or None."""
    shapes = _shapes()
    own = next((s for s in shapes if s.pk == policy.pk), None)
    return shadowed_by(shapes, own) if own is not None else None


def warning(policy: GatewayPolicy) -> str:
    """What to tell whoever saved ``policy`` when it can never match; empty when it can."""
    earlier = shadowing_policy(policy)
    if earlier is None:
        return ""
    where = "as a Do Not Inspect policy, before the others" if earlier.action == Action.DO_NOT_INSPECT \
        else f"at position {earlier.position}"
    return (f"{policy.name} can never match: {earlier.name} ({where}) is evaluated first and decides every "
            f"request {policy.name} would match. Move {policy.name} above it, or narrow {earlier.name}.")
