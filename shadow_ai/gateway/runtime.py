"""Deciding a gateway request end to end: find the application, the person and their device,
compile the enabled policies (once per cache version, like Access), ask the engine. The
evaluate API and the policy tester both come through ``evaluate``.

The common case reads only process caches: the library's suffix map and the compiled policies
(``shadow_ai.selectors``, this module) and the people and devices Access already caches
(``console.access.decisions``); the shared version is re-read at most every
``ACCESS_CACHE_SECONDS``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from accounts.models import Group, User
from console.access import decisions, facts, hotcache
from shadow_ai import selectors
from shadow_ai.dlp import engine as dlp_engine
from shadow_ai.dlp import services as dlp_services
from shadow_ai.gateway import engine, operations
from shadow_ai.models import Category, GatewayPolicy

CACHE_TABLE = "shadow_ai.policies"
CATEGORIES = dict(Category.choices)


def compile_stored(
    policy: GatewayPolicy, snapshot: selectors.LibrarySnapshot, group_names: dict[int, str],
    dlp_profiles: Mapping[int, dlp_engine.Profile] | None = None,
) -> engine.CompiledPolicy:
    """A stored policy as the engine runs it, with names for ids (for explanations).
    ``dlp_profiles``: ``dlp_profiles_for`` of the policies (loaded here when not given)."""
    if dlp_profiles is None:
        dlp_profiles = dlp_profiles_for([policy])
    conditions = []
    for config in policy.conditions:
        if config.get("type") == "application":
            labels = [snapshot.by_key[k].name if k in snapshot.by_key else f"{k} (not in the library)"
                      for k in sorted(config.get("values") or [])]
            config = {**config, "labels": labels}
        elif config.get("type") == "group":
            labels = [group_names.get(int(v), f"deleted group #{v}") for v in config.get("values") or []
                      if str(v).isdigit()]
            config = {**config, "labels": labels}
        conditions.append(config)
    capture_groups = [int(g) for g in policy.capture_groups or []]
    return engine.compile_policy(
        id=policy.pk, name=policy.name, action=policy.action, conditions=conditions,
        block_message=policy.block_message,
        target=snapshot.by_id.get(policy.target_id) if policy.target_id else None,
        isolation=policy.isolation, capture_prompts=policy.capture_prompts, capture_groups=capture_groups,
        capture_label=", ".join(group_names.get(g, f"#{g}") for g in capture_groups), categories=CATEGORIES,
        require_target=False, dlp_profiles=dlp_profiles,
    )


def dlp_profile_ids(policies: Iterable[GatewayPolicy]) -> list[int]:
    """The DLP profiles the policies' DLP profile conditions name."""
    ids: dict[int, None] = {}
    for policy in policies:
        for config in policy.conditions:
            if config.get("type") == "dlp_profile":
                ids.update((int(v), None) for v in config.get("values") or [] if str(v).isdigit())
    return list(ids)


def dlp_profiles_for(policies: Iterable[GatewayPolicy]) -> dict[int, dlp_engine.Profile]:
    """The compiled DLP profiles the policies use, by id (no query when none does). A DLP profile
    or entry change bumps the decision cache version (``shadow_ai.dlp.services``), so the
    compiled policies that embed these are rebuilt."""
    ids = dlp_profile_ids(policies)
    return {int(p.id): p for p in dlp_services.compiled_profiles(ids)} if ids else {}


def group_names_for(policies: Iterable[GatewayPolicy]) -> dict[int, str]:
    ids: set[int] = set()
    for policy in policies:
        ids.update(int(g) for g in policy.capture_groups or [])
        for config in policy.conditions:
            if config.get("type") == "group":
                ids.update(int(v) for v in config.get("values") or [] if str(v).isdigit())
    return dict(Group.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}


def compiled_policies(*, synced: bool = False) -> tuple[engine.CompiledPolicy, ...]:
    """The enabled policies in evaluation order. Raises ``engine.PolicyError`` if a stored policy
    cannot be compiled (callers fail closed)."""
    if not synced:
        hotcache.ensure_fresh()
    table = hotcache.table(CACHE_TABLE)
    found = table.get("enabled")
    if found is None:
        stored = list(GatewayPolicy.objects.filter(enabled=True).order_by("position", "pk"))
        snapshot = selectors.library_snapshot(synced=True)
        names = group_names_for(stored)
        profiles = dlp_profiles_for(stored)
        found = table["enabled"] = engine.evaluation_order(compile_stored(p, snapshot, names, profiles)
                                                           for p in stored)
    return found


def _path(url: str) -> str:
    try:
        return urlsplit(url if "://" in url else f"https://{url}").path or "/"
    except ValueError:
        return "/"


@dataclass(frozen=True)
class Evaluation:
    decision: engine.Decision
    request: engine.GatewayRequest
    user: User | None


def evaluate(
    *, hostname: str, email: str = "", user: User | None = None, url: str = "", method: str = "",
    device_id: str = "", explain: bool = False, body: str = "", upload_types: frozenset[str] = frozenset(),
) -> Evaluation:
    """Decide one request. ``hostname`` must be normalized (``hostnames.normalize``); the person
    is ``user`` or the active user with ``email``; ``body`` is the payload the gateway inspected
    (scanned only if a DLP profile condition is reached; never kept; for a SendPrompt of a known
    AI application, only its prompt text). Nobody known means block: the gateway cannot
    apply identity conditions to an unknown person, so it fails closed."""
    hotcache.ensure_fresh()
    snapshot = selectors.library_snapshot(synced=True)
    app = snapshot.matcher.match(hostname)
    operation = operations.operation_of(app.key if app else None, method, _path(url)) if method else ""
    if operation == operations.SEND_PROMPT and body:
        body = operations.prompt_of(app.key if app else None, body) or body
    person = decisions.person_by_id(user.pk) if user is not None else decisions.person_by_email(email)
    if person is None:
        request = engine.GatewayRequest(hostname=hostname, app=app, user=None, url=url, method=method,
                                         body=body, upload_types=upload_types, operation=operation)
        who = user.email if user is not None else email
        decision = engine.Decision(engine.Action.BLOCK, f"Blocked: no active user has the e-mail {who}; the gateway "
                                   "fails closed for people it does not know.")
        return Evaluation(decision, request, None)
    context = facts.user_context(person.user, groups=person.groups)
    device = decisions.device_by_id(device_id) if device_id else None
    if device is not None and device.user_id != person.user.pk:
        device = None  # someone else's device says nothing about this request
    request = engine.GatewayRequest(
        hostname=hostname, app=app,
        user=engine.UserFacts(email=person.user.email, groups=person.groups, risk_level=context.risk_level),
        device=decisions.device_posture(device), url=url, method=method, body=body, upload_types=upload_types,
        operation=operation,
    )
    policies = compiled_policies(synced=True)
    decision = engine.explain(policies, request) if explain else engine.evaluate(policies, request)
    return Evaluation(decision, request, person.user)
