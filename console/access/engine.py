"""The Access decision engine: a pure function of (user, application policies, request).

No Django, no database: callers build the contexts and compile the policies once, then ask.
Semantics follow Cloudflare Access and go a step further:

* A policy has an action (Allow, Block, Bypass, Service Auth) and three rule lists: Include
  (any selector matches), Require (every selector matches) and Exclude (no selector matches).
  A policy without Include rules never matches.
* Bypass and Service Auth policies are evaluated first, top-down; then Allow and Block in order.
  The first matching policy decides. Nothing matching means deny.
* Several values in one Require rule are ANDed where that can be met: Require "group A, B"
  needs both groups, Require "authentication method pwd, mfa" needs both. Where a person can
  only ever have one value (e-mail, country, risk level, identity provider) or where any proof
  will do (MFA method), the values stay any-of, since all-of could never match.
* Step-up: when an Allow policy's Include matches, its Exclude does not, and the only Require
  selectors that fail are ones the user can satisfy by proving something now (an MFA method, an
  identity verification), the answer is ``challenge`` with exactly what to prove.

``decide`` is the fast path; ``explain`` evaluates the same way and records every rule."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from console.core.policy import RISK_LEVELS as RISK_LEVELS  # the forms and the OpenAPI document list them from here
from console.core.policy import (
    DevicePosture,
    PolicyTrace,
    RuleError,
    RuleTrace,
    group_ids,
    posture_checks,
    risk_levels,
)
from console.core.policy import strings as _strings
from console.core.policy import values as _values

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Action(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"
    BYPASS = "bypass"
    SERVICE_AUTH = "service_auth"


class Outcome(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    CHALLENGE = "challenge"
    BYPASS = "bypass"


MFA_METHODS = ("security_key", "biometrics", "totp", "backup_code")


# --- Contexts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserContext:
    """What is known about the person. ``None`` stands for a request with no identity
    (a machine with a service token)."""

    email: str
    groups: frozenset[int] = frozenset()
    identity_provider: str = ""
    auth_methods: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)
    mfa: Mapping[str, datetime] = field(default_factory=dict)
    identity_verified_at: datetime | None = None
    risk_level: str = "unscored"

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


@dataclass(frozen=True)
class RequestContext:
    now: datetime
    ip: IPAddress | None = None
    country: str = ""
    service_token: str = ""
    device: DevicePosture | None = None


# --- Selectors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepUp:
    """What the user could prove now to satisfy a Require selector."""

    kind: str  # "mfa" or "identity_verification"
    methods: tuple[str, ...] = ()
    max_age_seconds: int | None = None

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"type": self.kind}
        if self.methods:
            result["methods"] = list(self.methods)
        if self.max_age_seconds is not None:
            result["max_age_seconds"] = self.max_age_seconds
        return result


SelectorError = RuleError  # a selector's configuration is invalid; the message says which value and why


@dataclass(frozen=True)
class Selector:
    """One compiled selector. ``test`` is the hot path; ``describe`` explains a result."""

    type: str
    label: str
    test: Callable[[UserContext | None, RequestContext], bool]
    identity: bool  # needs to know who the user is
    step_up: StepUp | None = None


def _everyone(config: Mapping[str, Any]) -> Selector:
    return Selector("everyone", "Everyone", lambda u, r: True, identity=False)


def _email(config: Mapping[str, Any]) -> Selector:
    emails = _strings(config)
    for e in emails:
        if "@" not in e:
            raise SelectorError(f"{e!r} is not an e-mail address")
    return Selector(
        "email", f"E-mail is one of {', '.join(sorted(emails))}",
        lambda u, r: u is not None and u.email.lower() in emails, identity=True,
    )


def _email_domain(config: Mapping[str, Any]) -> Selector:
    domains = frozenset(d.lstrip("@") for d in _strings(config))
    return Selector(
        "email_domain", f"E-mail ends in {', '.join('@' + d for d in sorted(domains))}",
        lambda u, r: u is not None and u.domain.lower() in domains, identity=True,
    )


def _group(config: Mapping[str, Any], require: bool = False) -> Selector:
    groups = group_ids(config)
    names = [str(n) for n in (config.get("labels") or sorted(groups))]
    if require and len(groups) > 1:
        return Selector(
            "group", f"Member of all of {', '.join(names)}",
            lambda u, r: u is not None and groups <= u.groups, identity=True,
        )
    return Selector(
        "group", f"Member of {', '.join(names)}",
        lambda u, r: u is not None and not groups.isdisjoint(u.groups), identity=True,
    )


def _identity_provider(config: Mapping[str, Any]) -> Selector:
    providers = _strings(config)
    return Selector(
        "identity_provider", f"Signed in with {', '.join(sorted(providers))}",
        lambda u, r: u is not None and u.identity_provider.lower() in providers, identity=True,
    )


def _oidc_claim(config: Mapping[str, Any]) -> Selector:
    name = config.get("name")
    value = config.get("value")
    if not isinstance(name, str) or not name.strip():
        raise SelectorError("needs a claim name")
    if not isinstance(value, str | int | bool) or value == "":
        raise SelectorError("needs a claim value")
    name = name.strip()
    wanted = str(value).lower()

    def test(u: UserContext | None, r: RequestContext) -> bool:
        if u is None or name not in u.claims:
            return False
        claim = u.claims[name]
        if isinstance(claim, list | tuple | set | frozenset):
            return any(str(c).lower() == wanted for c in claim)
        return str(claim).lower() == wanted

    return Selector("oidc_claim", f"Claim {name} is {value}", test, identity=True)


def _country(config: Mapping[str, Any]) -> Selector:
    countries = frozenset(c.upper() for c in _strings(config))
    for c in countries:
        if len(c) != 2 or not c.isalpha():
            raise SelectorError(f"{c!r} is not a two-letter country code")
    return Selector(
        "country", f"Country is {', '.join(sorted(countries))}",
        lambda u, r: r.country.upper() in countries, identity=False,
    )


def _ip_range(config: Mapping[str, Any]) -> Selector:
    networks: list[IPNetwork] = []
    for value in _values(config):
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise SelectorError(f"{value!r} is not an IP address or CIDR range") from None
    v4 = tuple(n for n in networks if n.version == 4)
    v6 = tuple(n for n in networks if n.version == 6)

    def test(u: UserContext | None, r: RequestContext) -> bool:
        ip = r.ip
        if ip is None:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        candidates = v4 if ip.version == 4 else v6
        return any(ip in n for n in candidates)

    return Selector("ip_range", f"IP in {', '.join(str(n) for n in networks)}", test, identity=False)


def _version_tuple(text: str) -> tuple[int, ...]:
    """``"14"``, ``"14.0"`` and ``"14.0.0"`` compare equal."""
    parts = []
    for piece in text.strip().split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    parts += [0] * (4 - len(parts))
    return tuple(parts[:4])


def _device_posture(config: Mapping[str, Any]) -> Selector:
    checks = posture_checks(config)
    min_os = config.get("min_os_version") or {}
    if not isinstance(min_os, Mapping):
        raise SelectorError("min_os_version must map an OS name to a version")
    for os_name, version in min_os.items():
        wanted = _version_tuple(str(version))
        os_lower = str(os_name).lower()
        checks.append((
            f"{os_name} ≥ {version}",
            lambda d, o=os_lower, w=wanted: d.os.lower() != o or _version_tuple(d.os_version) >= w,
        ))
    if config.get("os"):
        if not isinstance(config["os"], list):
            raise SelectorError("os must be a list of operating system names")
        allowed_os = frozenset(str(o).lower() for o in config["os"])
        checks.append((f"OS is {', '.join(sorted(allowed_os))}", lambda d: d.os.lower() in allowed_os))
    if not checks:
        raise SelectorError("pick at least one device check")
    tests = tuple(t for _, t in checks)

    def test(u: UserContext | None, r: RequestContext) -> bool:
        return r.device is not None and all(t(r.device) for t in tests)

    return Selector("device_posture", "Device is " + ", ".join(n for n, _ in checks), test, identity=False)


def _service_token(config: Mapping[str, Any]) -> Selector:
    tokens = frozenset(str(v).strip() for v in _values(config))
    if "" in tokens:
        raise SelectorError("service token values must be token ids")
    names = config.get("labels") or sorted(tokens)
    return Selector(
        "service_token", f"Service token {', '.join(str(n) for n in names)}",
        lambda u, r: r.service_token in tokens, identity=False,
    )


def _any_service_token(config: Mapping[str, Any]) -> Selector:
    return Selector("any_service_token", "Any valid service token", lambda u, r: bool(r.service_token), identity=False)


def _auth_method(config: Mapping[str, Any], require: bool = False) -> Selector:
    methods = _strings(config)
    if require and len(methods) > 1:
        return Selector(
            "auth_method", f"Authentication methods (AMR) include all of {', '.join(sorted(methods))}",
            lambda u, r: u is not None and methods <= {m.lower() for m in u.auth_methods}, identity=True,
        )
    return Selector(
        "auth_method", f"Authentication method (AMR) includes {', '.join(sorted(methods))}",
        lambda u, r: u is not None and not methods.isdisjoint(m.lower() for m in u.auth_methods),
        identity=True,
    )


def _max_age(config: Mapping[str, Any], name: str, unit: int) -> int | None:
    value = config.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SelectorError(f"{name} must be a whole number") from None
    if number <= 0:
        raise SelectorError(f"{name} must be positive")
    return number * unit


def _mfa_method(config: Mapping[str, Any]) -> Selector:
    methods = _strings(config)
    unknown = methods - set(MFA_METHODS)
    if unknown:
        raise SelectorError(f"unknown MFA method(s) {', '.join(sorted(unknown))}")
    max_age = _max_age(config, "max_age_minutes", 60)
    window = timedelta(seconds=max_age) if max_age else None
    ordered = tuple(m for m in MFA_METHODS if m in methods)

    def test(u: UserContext | None, r: RequestContext) -> bool:
        if u is None:
            return False
        for method in ordered:
            at = u.mfa.get(method)
            if at is not None and (window is None or r.now - at <= window):
                return True
        return False

    label = f"MFA with {' or '.join(ordered)}" + (f" within {max_age // 60} min" if max_age else "")
    return Selector("mfa_method", label, test, identity=True,
                    step_up=StepUp("mfa", ordered, max_age))


def _identity_verified(config: Mapping[str, Any]) -> Selector:
    max_age = _max_age(config, "max_age_days", 86400)
    window = timedelta(seconds=max_age) if max_age else None

    def test(u: UserContext | None, r: RequestContext) -> bool:
        if u is None or u.identity_verified_at is None:
            return False
        return window is None or r.now - u.identity_verified_at <= window

    label = "Identity verified" + (f" within {max_age // 86400} days" if max_age else "")
    return Selector("identity_verified", label, test, identity=True,
                    step_up=StepUp("identity_verification", (), max_age))


def _risk_score(config: Mapping[str, Any]) -> Selector:
    levels = risk_levels(config)
    return Selector(
        "risk_score", f"User risk score is {', '.join(sorted(levels))}",
        lambda u, r: u is not None and u.risk_level.lower() in levels, identity=True,
    )


SELECTORS: dict[str, Callable[[Mapping[str, Any]], Selector]] = {
    "everyone": _everyone,
    "email": _email,
    "email_domain": _email_domain,
    "group": _group,
    "identity_provider": _identity_provider,
    "oidc_claim": _oidc_claim,
    "country": _country,
    "ip_range": _ip_range,
    "device_posture": _device_posture,
    "service_token": _service_token,
    "any_service_token": _any_service_token,
    "auth_method": _auth_method,
    "mfa_method": _mfa_method,
    "identity_verified": _identity_verified,
    "risk_score": _risk_score,
}


ALL_OF_IN_REQUIRE = frozenset({"group", "auth_method"})


def compile_selector(config: Mapping[str, Any], *, require: bool = False) -> Selector:
    kind = config.get("type")
    if kind not in SELECTORS:
        raise SelectorError(f"unknown selector type {kind!r}")
    if kind in ALL_OF_IN_REQUIRE:
        return SELECTORS[kind](config, require)  # type: ignore[call-arg]
    return SELECTORS[kind](config)


# --- Policies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledPolicy:
    id: int
    name: str
    action: Action
    include: tuple[Selector, ...]
    require: tuple[Selector, ...] = ()
    exclude: tuple[Selector, ...] = ()
    session_seconds: int | None = None


class PolicyError(ValueError):
    """The policy cannot be used; ``where`` says which rule ("include 2") is wrong."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.reason = message


def compile_policy(
    *, id: int, name: str, action: str, rules: Mapping[str, Sequence[Mapping[str, Any]]],
    session_seconds: int | None = None,
) -> CompiledPolicy:
    try:
        act = Action(action)
    except ValueError:
        raise PolicyError(f"unknown action {action!r}") from None
    compiled: dict[str, tuple[Selector, ...]] = {}
    for kind in ("include", "require", "exclude"):
        selectors = []
        for index, config in enumerate(rules.get(kind) or [], start=1):
            try:
                selectors.append(compile_selector(config, require=kind == "require"))
            except SelectorError as exc:
                raise PolicyError(str(exc), f"{kind} {index} ({config.get('type', '?')})") from None
        compiled[kind] = tuple(selectors)
    if not compiled["include"]:
        raise PolicyError("a policy needs at least one Include rule", "include")
    if act == Action.BYPASS:
        for kind, selectors in compiled.items():
            for index, selector in enumerate(selectors, start=1):
                if selector.identity:
                    raise PolicyError(
                        "Bypass policies cannot use identity selectors (nobody signs in)",
                        f"{kind} {index} ({selector.type})",
                    )
    return CompiledPolicy(
        id=id, name=name, action=act, include=compiled["include"], require=compiled["require"],
        exclude=compiled["exclude"], session_seconds=session_seconds,
    )


def evaluation_order(policies: Iterable[CompiledPolicy]) -> tuple[CompiledPolicy, ...]:
    """Bypass and Service Auth first (keeping their order), then Allow and Block."""
    ordered = list(policies)
    first = [p for p in ordered if p.action in (Action.BYPASS, Action.SERVICE_AUTH)]
    rest = [p for p in ordered if p.action in (Action.ALLOW, Action.BLOCK)]
    return tuple(first + rest)


# --- Decisions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    policy: CompiledPolicy | None = None
    challenge: tuple[StepUp, ...] = ()
    trace: tuple[PolicyTrace, ...] = ()
    # The MFA method that satisfied the deciding policy's "MFA method used" requirement (the
    # latest verification that counted), for the authentication log; "" when none was asked.
    mfa_method: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome in (Outcome.ALLOW, Outcome.BYPASS)

    @property
    def reason(self) -> str:
        if self.policy is None:
            return "No policy matched: access is denied by default."
        if self.outcome == Outcome.CHALLENGE:
            return f"Policy {self.policy.name} allows access after step-up."
        verb = {"allow": "allows", "deny": "blocks", "bypass": "bypasses Access for"}[self.outcome.value]
        return f"Policy {self.policy.name} {verb} this request."


NO_MATCH = Decision(Outcome.DENY)


def _matches(policy: CompiledPolicy, user: UserContext | None, request: RequestContext) -> str:
    """"match", "no", or "step-up" for one policy."""
    for selector in policy.exclude:
        if selector.test(user, request):
            return "no"
    for selector in policy.include:
        if selector.test(user, request):
            break
    else:
        return "no"
    failed_step_up = False
    for selector in policy.require:
        if not selector.test(user, request):
            if selector.step_up is None or policy.action != Action.ALLOW or user is None:
                return "no"
            failed_step_up = True
    return "step-up" if failed_step_up else "match"


def mfa_method_used(policy: CompiledPolicy, user: UserContext | None, request: RequestContext) -> str:
    """The method of the most recent verification that satisfies ``policy``'s MFA requirements
    (a step-up just made, typically), or "" when the policy asks for none."""
    best, best_at = "", None
    for selector in policy.require:
        step_up = selector.step_up
        if step_up is None or step_up.kind != "mfa" or user is None:
            continue
        for method in step_up.methods:
            at = user.mfa.get(method)
            fresh = at is not None and (step_up.max_age_seconds is None
                                        or (request.now - at).total_seconds() <= step_up.max_age_seconds)
            if fresh and (best_at is None or at > best_at):
                best, best_at = method, at
    return best


def _matched(policy: CompiledPolicy, user: UserContext | None, request: RequestContext) -> Decision:
    outcome = _outcome_for(policy.action)
    if outcome == Outcome.ALLOW and policy.require:
        return Decision(outcome, policy, mfa_method=mfa_method_used(policy, user, request))
    return Decision(outcome, policy)


def _outcome_for(action: Action) -> Outcome:
    return {
        Action.ALLOW: Outcome.ALLOW, Action.SERVICE_AUTH: Outcome.ALLOW,
        Action.BLOCK: Outcome.DENY, Action.BYPASS: Outcome.BYPASS,
    }[action]


def decide(
    policies: Sequence[CompiledPolicy], user: UserContext | None, request: RequestContext
) -> Decision:
    """``policies`` must already be in evaluation order (``evaluation_order``)."""
    for policy in policies:
        if policy.action in (Action.ALLOW, Action.BLOCK) and user is None:
            continue  # identity policies need somebody
        result = _matches(policy, user, request)
        if result == "match":
            return _matched(policy, user, request)
        if result == "step-up":
            needed = tuple(s.step_up for s in policy.require
                           if s.step_up is not None and not s.test(user, request))
            return Decision(Outcome.CHALLENGE, policy, needed)
    return NO_MATCH


def explain(
    policies: Sequence[CompiledPolicy], user: UserContext | None, request: RequestContext
) -> Decision:
    """The same decision as ``decide``, with every policy and rule looked at."""
    traces: list[PolicyTrace] = []
    decision: Decision | None = None
    for policy in policies:
        if decision is not None:
            traces.append(PolicyTrace(policy.id, policy.name, policy.action.value, "skipped",
                                      note="An earlier policy already decided."))
            continue
        rules = tuple(
            RuleTrace(kind, s.type, s.label, s.test(user, request))
            for kind, selectors in (("include", policy.include), ("require", policy.require),
                                    ("exclude", policy.exclude))
            for s in selectors
        )
        if policy.action in (Action.ALLOW, Action.BLOCK) and user is None:
            traces.append(PolicyTrace(policy.id, policy.name, policy.action.value, "not matched", rules,
                                      "Needs a signed-in user; the request has none."))
            continue
        result = _matches(policy, user, request)
        if result == "match":
            decision = _matched(policy, user, request)
            traces.append(PolicyTrace(policy.id, policy.name, policy.action.value, "matched", rules))
        elif result == "step-up":
            needed = tuple(s.step_up for s in policy.require
                           if s.step_up is not None and not s.test(user, request))
            decision = Decision(Outcome.CHALLENGE, policy, needed)
            traces.append(PolicyTrace(policy.id, policy.name, policy.action.value, "step-up", rules,
                                      "Matches once the user proves what the failing Require rules ask."))
        else:
            traces.append(PolicyTrace(policy.id, policy.name, policy.action.value, "not matched", rules,
                                      _why_not(rules)))
    final = decision or NO_MATCH
    return Decision(final.outcome, final.policy, final.challenge, tuple(traces), final.mfa_method)


def _why_not(rules: tuple[RuleTrace, ...]) -> str:
    if any(r.kind == "exclude" and r.matched for r in rules):
        return "An Exclude rule matched."
    if not any(r.kind == "include" and r.matched for r in rules):
        return "No Include rule matched."
    return "A Require rule did not match."
