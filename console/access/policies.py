"""Compiled policy sets per application, cached in each process (``hotcache``).

Compiling turns stored rules into engine selectors once; the shared version number tells each
process when to compile again."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Group
from console.access import engine, hotcache
from console.access.models import Application, ApplicationPolicy, ServiceToken


@dataclass(frozen=True)
class PolicySet:
    application_id: int
    policies: tuple[engine.CompiledPolicy, ...]  # in evaluation order
    session_seconds: int


# Other features add Require rules to Allow policies when they are compiled (MFA requirements set
# on the organization, the application or the policy). Each hook: (application, policy) -> configs.
_requirement_hooks: list = []


def register_requirement_hook(hook) -> None:
    if hook not in _requirement_hooks:
        _requirement_hooks.append(hook)


def bump_version() -> None:
    """Call after any change that can alter a decision (in ``transaction.on_commit``)."""
    hotcache.bump_version()


def _with_labels(rules: dict, names: dict[str, dict[str, str]]) -> dict:
    """Rules with display names for ids (groups, service tokens), for explanations."""
    labelled = {}
    for kind, configs in rules.items():
        labelled[kind] = []
        for config in configs or []:
            table = names.get(config.get("type", ""))
            if table is not None:
                config = {**config, "labels": [table.get(str(v), f"#{v}") for v in config.get("values", [])]}
            labelled[kind].append(config)
    return labelled


def _names(attachments: list[ApplicationPolicy]) -> dict[str, dict[str, str]]:
    wanted: dict[str, set[str]] = {"group": set(), "service_token": set()}
    for attachment in attachments:
        for configs in attachment.policy.rules.values():
            for config in configs or []:
                if config.get("type") in wanted:
                    wanted[config["type"]].update(str(v) for v in config.get("values", []))
    names: dict[str, dict[str, str]] = {}
    if wanted["group"]:
        ids = [int(v) for v in wanted["group"] if v.isdigit()]
        names["group"] = {str(pk): name for pk, name in Group.objects.filter(pk__in=ids).values_list("pk", "name")}
    if wanted["service_token"]:
        ids = [int(v) for v in wanted["service_token"] if v.isdigit()]
        names["service_token"] = {
            str(pk): name for pk, name in ServiceToken.objects.filter(pk__in=ids).values_list("pk", "name")
        }
    return names


def compile_application(application: Application, attachments: list[ApplicationPolicy]) -> PolicySet:
    compiled = []
    names = _names(attachments)
    for attachment in attachments:
        policy = attachment.policy
        rules = _with_labels(policy.rules, names)
        extra = [config for hook in _requirement_hooks for config in hook(application, policy)]
        if extra:
            rules = {**rules, "require": [*rules.get("require", []), *extra]}
        compiled.append(engine.compile_policy(
            id=policy.pk, name=policy.name, action=policy.action, rules=rules,
            session_seconds=policy.session_seconds,
        ))
    return PolicySet(application.pk, engine.evaluation_order(compiled), application.session_seconds)


def policy_set_for(application: Application, *, synced: bool = False) -> PolicySet:
    """``synced``: the caller has just read the shared version (the decision hot path)."""
    if not synced:
        hotcache.ensure_fresh()
    compiled = hotcache.table("policy_sets")
    found = compiled.get(application.pk)
    if found is not None:
        return found
    attachments = list(
        ApplicationPolicy.objects.filter(application=application).select_related("policy").order_by("position")
    )
    policy_set = compile_application(application, attachments)
    compiled[application.pk] = policy_set
    return policy_set


def clear_local_cache() -> None:
    hotcache.clear()
