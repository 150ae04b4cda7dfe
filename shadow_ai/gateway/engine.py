"""The Gateway HTTP policy engine: a pure function of (ordered policies, one request) → decision
with the policy that made it and why. No Django, no database: callers compile the stored
policies once per version (``shadow_ai.gateway.runtime``) and build the request facts.

Semantics, after Cloudflare Gateway's HTTP policies:

* A policy has one action (Allow, Block, Redirect, Isolate, Do Not Inspect) and a list of
  conditions that must all hold (And). Several values in one condition are any-of (``in``);
  ``not_in`` negates the condition.
* Do Not Inspect policies are evaluated first (they act on the TLS handshake, before anything
  else could); then the others, top-down. The first match decides. Nothing matching: allow.
* Application conditions (application, category, status, scores, generative AI) describe the
  library application the hostname belongs to; for a hostname outside the library they do not
  hold (and their ``not_in`` form does).
* Redirect sends the person to the policy's target application, which must still be Approved
  when the request is decided; if it is not, the request is blocked and the answer says why
  (failing closed rather than sending people to something no longer sanctioned). A redirect
  policy is skipped for requests to its own target.
* Isolate carries the browser-isolation controls; Allow and Isolate may capture prompts, for
  everyone the policy matches or only for members of chosen groups.
* A prompt topic condition holds when the request's ``body`` carries any of the chosen prompt
  topics (``shadow_ai.prompts.topics``) at or above the chosen confidence. The body is scored
  lazily, once per request, when a topic condition is first tested.
* A DLP profile condition holds when the request's ``body`` (the payload the gateway inspected:
  a prompt, an uploaded text) triggers any of the chosen DLP profiles. Compiled policies carry
  the compiled profiles. The body is scanned lazily, once per request, for every profile any of
  the evaluated policies references, and only when a DLP condition is first tested; without a
  body nothing is scanned and no profile triggers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from console.core import policy as shared
from console.core.policy import RISK_LEVELS as RISK_LEVELS  # the forms and the OpenAPI document list them from here
from console.core.policy import DevicePosture, PolicyTrace
from shadow_ai.dlp import engine as dlp_engine
from shadow_ai.gateway import request_conditions
from shadow_ai.prompts import topics as prompt_topics

STATUSES = ("approved", "unapproved", "in_review", "unreviewed")
ISOLATION_CONTROLS = ("upload", "download", "copy", "paste", "print")


class Action(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"
    REDIRECT = "redirect"
    ISOLATE = "isolate"
    DO_NOT_INSPECT = "do_not_inspect"


# --- Facts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppFacts:
    """A library application as decisions see it."""

    id: int
    key: str
    name: str
    category: str
    status: str
    gen_ai: bool
    saas_score: Decimal | None = None
    genai_score: Decimal | None = None
    url: str = ""
    vendor: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "key": self.key, "name": self.name, "vendor": self.vendor, "category": self.category,
            "status": self.status, "gen_ai": self.gen_ai,
            "scores": {"saas": None if self.saas_score is None else float(self.saas_score),
                       "gen_ai": None if self.genai_score is None else float(self.genai_score)},
            "url": self.url,
        }


@dataclass(frozen=True)
class UserFacts:
    email: str
    groups: frozenset[int] = frozenset()
    risk_level: str = "unscored"


@dataclass(frozen=True)
class DlpHit:
    """A DLP profile the request's body triggered, and how many matches counted (no samples)."""

    profile_id: int | str
    name: str
    matches: int


@dataclass(frozen=True)
class DlpOutcome:
    """What DLP conditions saw: ``scanned`` is False when the request had no body."""

    scanned: bool
    triggered: tuple[DlpHit, ...] = ()


class DlpScan:
    """The per-request memo of DLP results. ``scope`` names the policies being evaluated; the
    first DLP condition tested scans the body once for every profile they reference."""

    __slots__ = ("evaluated", "policies", "results", "scans")

    def __init__(self) -> None:
        self.policies: Sequence[CompiledPolicy] = ()
        self.results: dict[int | str, dlp_engine.ProfileResult] = {}
        self.evaluated = False
        self.scans = 0

    def scope(self, policies: Sequence[CompiledPolicy]) -> None:
        self.policies = policies

    def results_for(self, body: str, profiles: Sequence[dlp_engine.Profile]) -> dict[int | str,
                                                                                 dlp_engine.ProfileResult]:
        self.evaluated = True
        if not body or all(p.id in self.results for p in profiles):
            return self.results
        wanted: dict[int | str, dlp_engine.Profile] = {}
        for profile in (*(p for policy in self.policies for c in policy.conditions for p in c.profiles), *profiles):
            if profile.id not in self.results:
                wanted.setdefault(profile.id, profile)
        self.scans += 1
        for result in dlp_engine.scan(body, list(wanted.values()), max_reported=0):
            self.results[result.profile_id] = result
        return self.results

    def outcome(self, body: str) -> DlpOutcome | None:
        if not self.evaluated:
            return None
        hits = tuple(DlpHit(r.profile_id, r.profile_name, r.total) for r in self.results.values() if r.triggered)
        return DlpOutcome(scanned=bool(body), triggered=hits)


class TopicScan:
    """The per-request memo of the body's prompt topics: scored once, when a prompt topic
    condition is first tested (or when a caller asks, e.g. to log the prompt)."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: prompt_topics.PromptTopics | None = None

    def of(self, body: str) -> prompt_topics.PromptTopics:
        if self.found is None:
            self.found = prompt_topics.score_prompt(body)
        return self.found


@dataclass(frozen=True)
class GatewayRequest:
    """``body``: the payload the gateway inspected (an AI prompt, an uploaded text), for DLP
    profile conditions. ``dlp`` is the request's scan memo; requests with the same body and
    policies (the tester's everyone-at-once mode) may share one."""

    hostname: str
    app: AppFacts | None
    user: UserFacts | None
    device: DevicePosture | None = None
    url: str = ""
    method: str = ""
    body: str = ""
    dlp: DlpScan = field(default_factory=DlpScan, compare=False, repr=False)
    topics: TopicScan = field(default_factory=TopicScan, compare=False, repr=False)
    upload_types: frozenset[str] = frozenset()  # extensions of the files the request uploads
    operation: str = ""  # the application operation (``operations.operation_of``): SendPrompt, ...


# --- Conditions -------------------------------------------------------------------------------


ConditionError = shared.RuleError  # a condition's configuration is invalid; the message says what to fix


@dataclass(frozen=True)
class Condition:
    type: str
    label: str
    test: Callable[[GatewayRequest], bool]
    profiles: tuple[dlp_engine.Profile, ...] = ()  # DLP profile conditions: what the body is scanned for


def _negated(config: Mapping[str, Any]) -> bool:
    operator = config.get("operator", "in")
    if operator not in ("in", "not_in"):
        raise ConditionError(f"operator must be in or not_in, not {operator!r}")
    return operator == "not_in"


def _labelled(config: Mapping[str, Any], values: Iterable[str]) -> list[str]:
    labels = config.get("labels")
    return [str(x) for x in labels] if labels else sorted(str(v) for v in values)


def _membership(kind: str, noun: str, config: Mapping[str, Any], values: frozenset,
                get: Callable[[GatewayRequest], Any]) -> Condition:
    negate = _negated(config)
    shown = ", ".join(_labelled(config, values))

    def test(r: GatewayRequest) -> bool:
        return (get(r) in values) != negate

    return Condition(kind, f"{noun} {'is not' if negate else 'is'} {shown}", test)


def _application(config: Mapping[str, Any]) -> Condition:
    keys = shared.strings(config)
    return _membership("application", "Application", config, keys, lambda r: r.app.key if r.app else None)


def _category(config: Mapping[str, Any], categories: Mapping[str, str] | None = None) -> Condition:
    values = shared.strings(config)
    if categories is not None:
        unknown = values - set(categories)
        if unknown:
            raise ConditionError(f"unknown categor{'ies' if len(unknown) > 1 else 'y'} {', '.join(sorted(unknown))}")
        config = {**config, "labels": [categories[v] for v in sorted(values)]}
    return _membership("category", "Category", config, values, lambda r: r.app.category if r.app else None)


def _status(config: Mapping[str, Any]) -> Condition:
    values = frozenset(v.replace(" ", "_") for v in shared.strings(config))
    unknown = values - set(STATUSES)
    if unknown:
        raise ConditionError(f"unknown status {', '.join(sorted(unknown))}; use {', '.join(STATUSES)}")
    config = {**config, "labels": [v.replace("_", " ").capitalize() for v in sorted(values)]}
    return _membership("status", "Status", config, values, lambda r: r.app.status if r.app else None)


_COMPARISONS: dict[str, tuple[str, Callable[[Decimal, Decimal], bool]]] = {
    "lt": ("<", lambda a, b: a < b), "lte": ("≤", lambda a, b: a <= b),
    "gt": (">", lambda a, b: a > b), "gte": ("≥", lambda a, b: a >= b),
}


def _score(kind: str, config: Mapping[str, Any]) -> Condition:
    comparison = config.get("comparison")
    if comparison not in _COMPARISONS:
        raise ConditionError("comparison must be one of lt, lte, gt, gte")
    try:
        threshold = Decimal(str(config.get("value")))
    except (InvalidOperation, ValueError):
        raise ConditionError("the threshold must be a number from 0 to 5") from None
    if not threshold.is_finite() or not Decimal(0) <= threshold <= Decimal(5):
        raise ConditionError("the threshold must be a number from 0 to 5")
    unscored = bool(config.get("match_unscored"))
    symbol, compare = _COMPARISONS[comparison]
    attribute = "saas_score" if kind == "saas_score" else "genai_score"
    noun = "SaaS confidence score" if kind == "saas_score" else "Gen-AI confidence score"

    def test(r: GatewayRequest) -> bool:
        if r.app is None:
            return False
        value = getattr(r.app, attribute)
        if value is None:
            return unscored
        return compare(value, threshold)

    label = f"{noun} {symbol} {threshold}" + (" (or not scored)" if unscored else "")
    return Condition(kind, label, test)


def _gen_ai(config: Mapping[str, Any]) -> Condition:
    wanted = config.get("value")
    if not isinstance(wanted, bool):
        raise ConditionError("value must be true or false")

    def test(r: GatewayRequest) -> bool:
        return r.app is not None and r.app.gen_ai == wanted

    return Condition("gen_ai", "Generative AI application" if wanted else "Not a generative AI application", test)


def _hostname(config: Mapping[str, Any]) -> Condition:
    hosts = shared.strings(config)
    for host in hosts:
        if "/" in host or " " in host or host.startswith("*"):
            raise ConditionError(f"{host!r} is not a hostname (subdomains are included without *.)")
    negate = _negated(config)
    suffixes = tuple("." + h for h in hosts)

    def test(r: GatewayRequest) -> bool:
        found = r.hostname in hosts or r.hostname.endswith(suffixes)
        return found != negate

    return Condition("hostname", f"Host {'is not' if negate else 'is'} {', '.join(sorted(hosts))} (or a subdomain)",
                     test)


def _user_email(config: Mapping[str, Any]) -> Condition:
    entries = shared.strings(config)
    for entry in entries:
        if "@" not in entry:
            raise ConditionError(f"{entry!r} is not an e-mail address or @domain")
    emails = frozenset(e for e in entries if not e.startswith("@"))
    domains = frozenset(e[1:] for e in entries if e.startswith("@"))
    negate = _negated(config)

    def test(r: GatewayRequest) -> bool:
        if r.user is None:
            return negate
        email = r.user.email.lower()
        found = email in emails or email.rpartition("@")[2] in domains
        return found != negate

    return Condition("user_email", f"User e-mail {'is not' if negate else 'is'} {', '.join(sorted(entries))}", test)


def _group(config: Mapping[str, Any]) -> Condition:
    groups = shared.group_ids(config)
    negate = _negated(config)
    shown = ", ".join(_labelled(config, (str(g) for g in groups)))

    def test(r: GatewayRequest) -> bool:
        member = r.user is not None and not groups.isdisjoint(r.user.groups)
        return member != negate

    return Condition("group", f"User {'is not' if negate else 'is'} in {shown}", test)


def _risk_score(config: Mapping[str, Any]) -> Condition:
    levels = shared.risk_levels(config)
    return _membership("risk_score", "User risk score", config, levels,
                       lambda r: r.user.risk_level.lower() if r.user else None)


def _device_posture(config: Mapping[str, Any]) -> Condition:
    checks = shared.posture_checks(config)
    if not checks:
        raise ConditionError("pick at least one device check")
    result = config.get("result", "passes")
    if result not in ("passes", "fails"):
        raise ConditionError("result must be passes or fails")
    fails = result == "fails"
    tests = tuple(t for _, t in checks)

    def test(r: GatewayRequest) -> bool:
        passed = r.device is not None and all(t(r.device) for t in tests)
        return passed != fails

    names = ", ".join(n for n, _ in checks)
    return Condition("device_posture", f"Device {'fails' if fails else 'passes'} posture: {names}", test)


def _dlp_profile(config: Mapping[str, Any], profiles: Mapping[int, dlp_engine.Profile] | None = None) -> Condition:
    """``profiles``: the compiled DLP profiles by id; None only checks the configuration's shape
    (the condition then never triggers)."""
    ids: list[int] = []
    for value in shared.values(config):
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            raise ConditionError(f"{value!r} is not a DLP profile id")
        ids.append(int(value))
    wanted = frozenset(ids)
    negate = _negated(config)
    if profiles is not None:
        missing = sorted(wanted - set(profiles))
        if missing:
            raise ConditionError(f"DLP profile(s) {', '.join(f'#{i}' for i in missing)} no longer exist")
        chosen = tuple(profiles[i] for i in sorted(wanted))
        shown = ", ".join(sorted(p.name for p in chosen))
    else:
        chosen = ()
        shown = ", ".join(_labelled(config, (f"#{i}" for i in sorted(wanted))))

    def test(r: GatewayRequest) -> bool:
        results = r.dlp.results_for(r.body, chosen)
        triggered = any(results[i].triggered for i in wanted if i in results)
        return triggered != negate

    return Condition("dlp_profile", f"DLP profile {'is not' if negate else 'is'} {shown}", test, chosen)


TOPIC_LEVELS = ("low", "medium", "high")


def _prompt_topic(config: Mapping[str, Any]) -> Condition:
    """Holds when the body carries any of the topics (``values``: topic keys) at ``confidence``
    or above; "is not" when it carries none of them at that level."""
    keys = shared.strings(config)
    unknown = sorted(keys - set(prompt_topics.TOPICS_BY_KEY))
    if unknown:
        raise ConditionError(f"unknown prompt topic {', '.join(unknown)}; use "
                             f"{', '.join(t.key for t in prompt_topics.TOPICS)}")
    level = config.get("confidence", "low")
    if level not in TOPIC_LEVELS:
        raise ConditionError(f"confidence must be one of {', '.join(TOPIC_LEVELS)}")
    minimum = prompt_topics.Confidence(level)
    negate = _negated(config)
    names = ", ".join(prompt_topics.TOPICS_BY_KEY[k].name for k in sorted(keys))

    def test(r: GatewayRequest) -> bool:
        if not r.body:
            return negate
        found = r.topics.of(r.body)
        return any(found.at_least(k, minimum) for k in keys) != negate

    return Condition("prompt_topic", f"Prompt topic {'is not' if negate else 'is'} {names} "
                     f"(confidence ≥ {minimum.label})", test)


CONDITIONS: dict[str, Callable[[Mapping[str, Any]], Condition]] = {
    "application": _application,
    "category": _category,
    "status": _status,
    "saas_score": lambda c: _score("saas_score", c),
    "genai_score": lambda c: _score("genai_score", c),
    "gen_ai": _gen_ai,
    "hostname": _hostname,
    "user_email": _user_email,
    "group": _group,
    "device_posture": _device_posture,
    "risk_score": _risk_score,
    "dlp_profile": _dlp_profile,
    "prompt_topic": _prompt_topic,
}
CONDITIONS.update(request_conditions.CONDITIONS)  # HTTP method, URL path and regex, file type, operation


def compile_condition(
    config: Mapping[str, Any], *, categories: Mapping[str, str] | None = None,
    dlp_profiles: Mapping[int, dlp_engine.Profile] | None = None,
) -> Condition:
    if not isinstance(config, Mapping):
        raise ConditionError("a condition must be an object")
    kind = config.get("type")
    if kind not in CONDITIONS:
        raise ConditionError(f"unknown condition type {kind!r}")
    if kind == "category":
        return _category(config, categories)
    if kind == "dlp_profile":
        return _dlp_profile(config, dlp_profiles)
    return CONDITIONS[kind](config)


# --- Policies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Isolation:
    blocked: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, bool]:
        """``{"upload": True, ...}``: True means the control is blocked in the isolated browser."""
        return {control: control in self.blocked for control in ISOLATION_CONTROLS}

    @property
    def label(self) -> str:
        if not self.blocked:
            return "no controls restricted"
        return ", ".join(c for c in ISOLATION_CONTROLS if c in self.blocked) + " blocked"


@dataclass(frozen=True)
class CompiledPolicy:
    id: int
    name: str
    action: Action
    conditions: tuple[Condition, ...]
    block_message: str = ""
    target: AppFacts | None = None
    isolation: Isolation | None = None
    capture_prompts: bool = False
    capture_groups: frozenset[int] = frozenset()
    capture_label: str = ""


class PolicyError(ValueError):
    """The policy cannot be used; ``where`` names the condition ("condition 2 (status)")."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where, self.reason = where, message


def compile_policy(
    *, id: int, name: str, action: str, conditions: Sequence[Mapping[str, Any]], block_message: str = "",
    target: AppFacts | None = None, isolation: Mapping[str, bool] | None = None, capture_prompts: bool = False,
    capture_groups: Iterable[int] = (), capture_label: str = "", categories: Mapping[str, str] | None = None,
    require_target: bool = True, dlp_profiles: Mapping[int, dlp_engine.Profile] | None = None,
) -> CompiledPolicy:
    """``require_target``: a Redirect needs its target (False only to describe a broken policy).
    ``dlp_profiles``: the compiled DLP profiles its DLP profile conditions name, by id."""
    try:
        act = Action(action)
    except ValueError:
        raise PolicyError(f"unknown action {action!r}") from None
    if not isinstance(conditions, Sequence) or not conditions:
        raise PolicyError("a policy needs at least one condition", "conditions")
    compiled = []
    for index, config in enumerate(conditions, start=1):
        try:
            compiled.append(compile_condition(config, categories=categories, dlp_profiles=dlp_profiles))
        except ConditionError as exc:
            kind = config.get("type", "?") if isinstance(config, Mapping) else "?"
            raise PolicyError(str(exc), f"condition {index} ({kind})") from None
    if act == Action.REDIRECT and target is None and require_target:
        raise PolicyError("a Redirect policy needs the application to send people to", "target")
    if capture_prompts and act not in (Action.ALLOW, Action.ISOLATE):
        raise PolicyError("prompts can be captured only when the request goes through (Allow or Isolate)",
                          "capture_prompts")
    blocked = frozenset(c for c, on in (isolation or {}).items() if on and c in ISOLATION_CONTROLS)
    return CompiledPolicy(
        id=id, name=name, action=act, conditions=tuple(compiled), block_message=block_message.strip(),
        target=target, isolation=Isolation(blocked) if act == Action.ISOLATE else None,
        capture_prompts=capture_prompts, capture_groups=frozenset(capture_groups), capture_label=capture_label,
    )


def evaluation_order(policies: Iterable[CompiledPolicy]) -> tuple[CompiledPolicy, ...]:
    """Do Not Inspect first (keeping their order), then the rest in order."""
    ordered = list(policies)
    return tuple([p for p in ordered if p.action == Action.DO_NOT_INSPECT]
                 + [p for p in ordered if p.action != Action.DO_NOT_INSPECT])


# --- Decisions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    policy: CompiledPolicy | None = None
    redirect_to: AppFacts | None = None
    alternative: AppFacts | None = None
    block_message: str = ""
    isolation: Isolation | None = None
    capture_prompts: bool = False
    trace: tuple[PolicyTrace, ...] = field(default=())
    dlp: DlpOutcome | None = None  # set when a DLP profile condition was evaluated
    topics: prompt_topics.PromptTopics | None = None  # set once the body's prompt topics were scored

    @property
    def inspected(self) -> bool:
        return self.action != Action.DO_NOT_INSPECT


DEFAULT = Decision(Action.ALLOW, "No policy matched: the gateway allows by default.")


def _what(request: GatewayRequest) -> str:
    return request.app.name if request.app else request.hostname


def _captures(policy: CompiledPolicy, request: GatewayRequest) -> bool:
    if not policy.capture_prompts:
        return False
    if not policy.capture_groups:
        return True
    return request.user is not None and not policy.capture_groups.isdisjoint(request.user.groups)


def _decide(policy: CompiledPolicy, request: GatewayRequest) -> Decision | None:
    """The decision of a matching policy, or None when it does not apply to this request."""
    name = policy.name
    if policy.action == Action.ALLOW:
        capture = _captures(policy, request)
        return Decision(Action.ALLOW, f"Policy {name} allows {_what(request)}"
                        + (", and its prompts are captured." if capture else "."), policy, capture_prompts=capture)
    if policy.action == Action.BLOCK:
        text = f"Policy {name} blocks {_what(request)}"
        if policy.block_message:
            text += f": {policy.block_message.rstrip('.!?')}"
        text += "."
        alternative = policy.target if policy.target is not None and policy.target.status == "approved" else None
        if alternative is not None:
            text += f" Use {alternative.name} instead."
        return Decision(Action.BLOCK, text, policy, alternative=alternative, block_message=policy.block_message)
    if policy.action == Action.REDIRECT:
        target = policy.target
        if target is not None and request.app is not None and request.app.id == target.id:
            return None
        if target is None or target.status != "approved":
            where = target.name if target else "a deleted application"
            return Decision(Action.BLOCK, f"Policy {name} would redirect {_what(request)} to {where}, which is not "
                            "Approved: the request is blocked instead.", policy,
                            block_message="The approved alternative is not available right now.")
        return Decision(Action.REDIRECT, f"Policy {name} redirects {_what(request)} to {target.name}, the approved "
                        "alternative.", policy, redirect_to=target)
    if policy.action == Action.ISOLATE:
        capture = _captures(policy, request)
        isolation = policy.isolation or Isolation()
        return Decision(Action.ISOLATE, f"Policy {name} opens {_what(request)} in an isolated browser "
                        f"({isolation.label})" + ("; its prompts are captured." if capture else "."), policy,
                        isolation=isolation, capture_prompts=capture)
    return Decision(Action.DO_NOT_INSPECT, f"Policy {name} exempts {_what(request)} from inspection: no logging, "
                    "DLP or prompt capture.", policy)


def evaluate(policies: Sequence[CompiledPolicy], request: GatewayRequest) -> Decision:
    """``policies`` must be enabled ones in evaluation order (``evaluation_order``)."""
    request.dlp.scope(policies)
    for policy in policies:
        for condition in policy.conditions:
            if not condition.test(request):
                break
        else:
            decision = _decide(policy, request)
            if decision is not None:
                return _with_dlp(decision, request)
    return _with_dlp(DEFAULT, request)


def _with_dlp(decision: Decision, request: GatewayRequest) -> Decision:
    outcome = request.dlp.outcome(request.body)
    found = request.topics.found
    if outcome is None and found is None:
        return decision
    return replace(decision, dlp=outcome, topics=found)


def explain(policies: Sequence[CompiledPolicy], request: GatewayRequest) -> Decision:
    """The same decision as ``evaluate``, with every policy and condition looked at."""
    traces: list[PolicyTrace] = []
    decision: Decision | None = None
    request.dlp.scope(policies)
    for policy in policies:
        if decision is not None:
            traces.append(PolicyTrace(policy.id, policy.name, policy.action.value, "skipped",
                                      note="An earlier policy already decided."))
            continue
        conditions = tuple(shared.RuleTrace("condition", c.type, c.label, c.test(request)) for c in policy.conditions)
        if not all(c.matched for c in conditions):
            traces.append(PolicyTrace(policy.id, policy.name, policy.action.value, "not matched", conditions,
                                      "A condition does not hold."))
            continue
        decision = _decide(policy, request)
        if decision is None:
            traces.append(PolicyTrace(policy.id, policy.name, policy.action.value, "not matched", conditions,
                                      "The request already goes to the policy's redirect target."))
            continue
        traces.append(PolicyTrace(policy.id, policy.name, policy.action.value, "matched", conditions))
    final = decision or DEFAULT
    return Decision(final.action, final.reason, final.policy, final.redirect_to, final.alternative,
                    final.block_message, final.isolation, final.capture_prompts, tuple(traces),
                    request.dlp.outcome(request.body), request.topics.found)
