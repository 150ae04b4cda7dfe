"""Every write to the Gateway HTTP policies: create, change, delete, enable or disable, and order.
Each checks the actor's role, validates the policy by compiling it, runs in one transaction with
its audit row, and bumps the compiled-policy version after commit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Group, User
from console.access import policies as access_policies
from console.audit.services import audit_record, diff
from console.core.errors import Conflict, ValidationFailed
from console.core.names import clean_name, require_free_name
from console.core.permissions import require_role
from console.core.roles import ADMINS
from shadow_ai import selectors
from shadow_ai.dlp import services as dlp_services
from shadow_ai.gateway import engine
from shadow_ai.gateway.runtime import CATEGORIES
from shadow_ai.models import ISOLATION_CONTROLS, Application, GatewayPolicy, Status

FIELDS = ("name", "description", "enabled", "action", "conditions", "block_message", "target", "capture_prompts",
          "capture_groups", *(f"isolate_block_{c}" for c in ISOLATION_CONTROLS))


def _changed() -> None:
    transaction.on_commit(access_policies.bump_version)


def _snapshot(policy: GatewayPolicy) -> dict[str, Any]:
    values = {f: getattr(policy, f) for f in FIELDS if f != "target"}
    values["target"] = policy.target.name if policy.target_id else None
    return values


def _condition_list(action: str, conditions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The conditions as dictionaries; ``ValidationFailed`` for an unknown action or conditions
    that are not a list of objects."""
    if action not in GatewayPolicy.Action.values:
        raise ValidationFailed(f"Unknown action {action!r}.", field="action")
    if not isinstance(conditions, Sequence) or isinstance(conditions, str | bytes):
        raise ValidationFailed("Conditions must be a list.", field="conditions")
    clean = [dict(c) for c in conditions if isinstance(c, Mapping)]
    if len(clean) != len(conditions):
        raise ValidationFailed("Each condition must be an object.", field="conditions")
    return clean


def _number_ids(clean: list[dict[str, Any]]) -> None:
    """Group and DLP profile ids given as digit strings become numbers."""
    for config in clean:
        if config.get("type") in ("group", "dlp_profile") and isinstance(config.get("values"), list):
            config["values"] = [int(v) if isinstance(v, str) and v.isdigit() else v for v in config["values"]]


def _known_groups(clean: list[dict[str, Any]], capture_groups: Iterable[int]) -> set[int]:
    """Which of the group ids the conditions and prompt capture name exist (one query)."""
    group_ids = {g for c in clean if c.get("type") == "group" for g in (c.get("values") or [])}
    group_ids |= set(capture_groups)
    return set(Group.objects.filter(pk__in=[g for g in group_ids if str(g).isdigit()]).values_list("pk", flat=True))


def _check_applications_and_groups(clean: list[dict[str, Any]], snapshot: Any, known_groups: set[int]) -> None:
    for index, config in enumerate(clean, start=1):
        config.pop("labels", None)
        where = f"condition {index} ({config.get('type', '?')})"
        if config.get("type") == "application":
            missing = [k for k in config.get("values") or [] if k not in snapshot.by_key]
            if missing:
                raise ValidationFailed(f"{where}: {', '.join(map(str, missing))} is not in the library.",
                                       field="conditions")
        if config.get("type") == "group":
            missing = [g for g in config.get("values") or [] if g not in known_groups]
            if missing:
                raise ValidationFailed(f"{where}: unknown group id(s) {missing}.", field="conditions")


def _dlp_profiles(clean: list[dict[str, Any]]) -> dict[int, Any]:
    """The compiled DLP profiles the conditions name, by id; ``ValidationFailed`` for an unknown one."""
    dlp_ids = [v for c in clean if c.get("type") == "dlp_profile" for v in (c.get("values") or [])
               if isinstance(v, int) and not isinstance(v, bool)]
    dlp_profiles = {int(p.id): p for p in dlp_services.compiled_profiles(dlp_ids)} if dlp_ids else {}
    for index, config in enumerate(clean, start=1):
        if config.get("type") == "dlp_profile":
            missing = [v for v in config.get("values") or [] if isinstance(v, int) and v not in dlp_profiles]
            if missing:
                raise ValidationFailed(f"condition {index} (dlp_profile): unknown DLP profile id(s) {missing}.",
                                       field="conditions")
    return dlp_profiles


def _target_facts(target: Application | None, action: str, snapshot: Any) -> Any:
    """The library facts of the approved alternative; ``ValidationFailed`` when it cannot be one."""
    facts = snapshot.by_id.get(target.pk) if target is not None else None
    if target is not None and action in (GatewayPolicy.Action.REDIRECT, GatewayPolicy.Action.BLOCK):
        if target.status != Status.APPROVED:
            raise ValidationFailed(
                f"{target.name} is {target.get_status_display()}: only an Approved application can be the approved "
                "alternative. Approve it first.", field="target")
        if facts is None or not facts.url:
            raise ValidationFailed(f"{target.name} has no address to send people to.", field="target")
    return facts


def _compile_check(**policy: Any) -> None:
    """Compile the policy as the engine will; its ``PolicyError`` as ``ValidationFailed`` on the field to fix."""
    try:
        engine.compile_policy(id=0, name="check", categories=CATEGORIES, **policy)
    except engine.PolicyError as exc:
        field = "target" if exc.where == "target" else "capture_prompts" if exc.where == "capture_prompts" \
            else "conditions"
        raise ValidationFailed(f"{exc.where}: {exc.reason}" if exc.where and field == "conditions" else exc.reason,
                               field=field) from None


def validate(
    *, action: str, conditions: Sequence[Mapping[str, Any]], target: Application | None = None,
    block_message: str = "", capture_prompts: bool = False, capture_groups: Iterable[int] = (),
    isolation: Mapping[str, bool] | None = None,
) -> list[dict[str, Any]]:
    """Check a policy the way the engine will run it; ``ValidationFailed`` names the part to fix
    ("condition 2 (status): …"). Returns the conditions as stored."""
    clean = _condition_list(action, conditions)
    snapshot = selectors.library_snapshot()
    _number_ids(clean)
    known_groups = _known_groups(clean, capture_groups)
    _check_applications_and_groups(clean, snapshot, known_groups)
    dlp_profiles = _dlp_profiles(clean)
    missing = [g for g in capture_groups if g not in known_groups]
    if missing:
        raise ValidationFailed(f"Unknown group id(s) {missing} for prompt capture.", field="capture_groups")
    if len(block_message or "") > 500:
        raise ValidationFailed("Keep the block message under 500 characters.", field="block_message")
    facts = _target_facts(target, action, snapshot)
    _compile_check(
        action=action, conditions=clean, target=facts, isolation=isolation, capture_prompts=capture_prompts,
        capture_groups=capture_groups, dlp_profiles=dlp_profiles,
    )
    return clean


def _clean(
    *, name: str, action: str, conditions: Sequence[Mapping[str, Any]], description: str, block_message: str,
    target: Application | None, isolation: Mapping[str, bool] | None, capture_prompts: bool,
    capture_groups: Sequence[int], policy: GatewayPolicy | None,
) -> dict[str, Any]:
    name = clean_name(name)
    require_free_name(GatewayPolicy.objects, name, f"A Gateway policy named {name} already exists.", instance=policy)
    try:
        groups = sorted({int(g) for g in capture_groups})
    except (TypeError, ValueError):
        raise ValidationFailed("Prompt capture groups must be group ids.", field="capture_groups") from None
    isolation = {c: bool((isolation or {}).get(c)) for c in ISOLATION_CONTROLS}
    is_target_action = action in (GatewayPolicy.Action.REDIRECT, GatewayPolicy.Action.BLOCK)
    clean = validate(action=action, conditions=conditions, target=target if is_target_action else None,
                     block_message=block_message, capture_prompts=capture_prompts, capture_groups=groups,
                     isolation=isolation)
    isolate = action == GatewayPolicy.Action.ISOLATE
    return {
        "name": name, "action": action, "conditions": clean, "description": (description or "").strip()[:300],
        "block_message": (block_message or "").strip() if action == GatewayPolicy.Action.BLOCK else "",
        "target": target if is_target_action else None,
        "capture_prompts": bool(capture_prompts), "capture_groups": groups if capture_prompts else [],
        **{f"isolate_block_{c}": isolate and on for c, on in isolation.items()},
    }


@transaction.atomic
def gateway_policy_create(
    *, actor: User, name: str, action: str, conditions: Sequence[Mapping[str, Any]], description: str = "",
    enabled: bool = True, block_message: str = "", target: Application | None = None,
    isolation: Mapping[str, bool] | None = None, capture_prompts: bool = False, capture_groups: Sequence[int] = (),
) -> GatewayPolicy:
    """Add a policy at the end of the order. ``isolation``: {"upload": True, ...} blocks those
    controls in the isolated browser; ``capture_groups``: group ids (empty: everyone matched)."""
    require_role(actor, ADMINS, "create Gateway policies")
    fields = _clean(name=name, action=action, conditions=conditions, description=description,
                    block_message=block_message, target=target, isolation=isolation,
                    capture_prompts=capture_prompts, capture_groups=capture_groups, policy=None)
    _order()  # locks the policies: positions are handed out one at a time
    last = GatewayPolicy.objects.aggregate(last=Max("position"))["last"] or 0
    policy = GatewayPolicy.objects.create(position=last + 1, enabled=bool(enabled), **fields)
    audit_record(actor=actor, action="shadow_ai.gateway_policy.created", obj=policy,
                 changes={**diff({}, _snapshot(policy)), "position": policy.position})
    _changed()
    return policy


@transaction.atomic
def gateway_policy_update(
    *, actor: User, policy: GatewayPolicy, name: str, action: str, conditions: Sequence[Mapping[str, Any]],
    description: str = "", enabled: bool = True, block_message: str = "", target: Application | None = None,
    isolation: Mapping[str, bool] | None = None, capture_prompts: bool = False, capture_groups: Sequence[int] = (),
) -> GatewayPolicy:
    require_role(actor, ADMINS, "change Gateway policies")
    policy = GatewayPolicy.objects.select_for_update(of=("self",)).select_related("target").get(pk=policy.pk)
    fields = _clean(name=name, action=action, conditions=conditions, description=description,
                    block_message=block_message, target=target, isolation=isolation,
                    capture_prompts=capture_prompts, capture_groups=capture_groups, policy=policy)
    before = _snapshot(policy)
    for key, value in fields.items():
        setattr(policy, key, value)
    policy.enabled = bool(enabled)
    changes = diff(before, _snapshot(policy))
    if not changes:
        return policy
    policy.updated_at = timezone.now()
    policy.save()
    audit_record(actor=actor, action="shadow_ai.gateway_policy.updated", obj=policy, changes=changes)
    _changed()
    return policy


def _renumber(ids: Sequence[int]) -> None:
    for position, pk in enumerate(ids, start=1):
        GatewayPolicy.objects.filter(pk=pk).exclude(position=position).update(position=position)


def _order() -> list[tuple[int, str]]:
    return list(GatewayPolicy.objects.select_for_update().order_by("position", "pk").values_list("pk", "name"))


@transaction.atomic
def gateway_policy_delete(*, actor: User, policy: GatewayPolicy) -> None:
    require_role(actor, ADMINS, "delete Gateway policies")
    order = _order()
    audit_record(actor=actor, action="shadow_ai.gateway_policy.deleted", obj=policy,
                 changes={"name": {"old": policy.name, "new": None}, "action": policy.action,
                          "conditions": policy.conditions})
    GatewayPolicy.objects.filter(pk=policy.pk).delete()
    _renumber([pk for pk, _ in order if pk != policy.pk])
    _changed()


@transaction.atomic
def gateway_policy_set_enabled(*, actor: User, policy: GatewayPolicy, enabled: bool) -> bool:
    require_role(actor, ADMINS, "enable or disable Gateway policies")
    policy = GatewayPolicy.objects.select_for_update().get(pk=policy.pk)
    if policy.enabled == enabled:
        return False
    policy.enabled, policy.updated_at = enabled, timezone.now()
    policy.save(update_fields=["enabled", "updated_at"])
    audit_record(actor=actor, action=f"shadow_ai.gateway_policy.{'enabled' if enabled else 'disabled'}", obj=policy,
                 changes={"enabled": {"old": not enabled, "new": enabled}})
    _changed()
    return True


@transaction.atomic
def gateway_policies_reorder(*, actor: User, policy_ids: Sequence[int]) -> bool:
    """Put every policy in this order (first is evaluated first). The list must name each
    policy exactly once. False when the order is unchanged."""
    require_role(actor, ADMINS, "reorder Gateway policies")
    order = _order()
    try:
        wanted = [int(i) for i in policy_ids]
    except (TypeError, ValueError):
        raise ValidationFailed("The order must be a list of policy ids.", field="order") from None
    if sorted(wanted) != sorted(pk for pk, _ in order) or len(set(wanted)) != len(wanted):
        raise Conflict("The policies changed since the page was loaded; reload it and try again.", field="order")
    current = [pk for pk, _ in order]
    if wanted == current:
        return False
    names = dict(order)
    _renumber(wanted)
    audit_record(actor=actor, action="shadow_ai.gateway_policy.reordered", object_type="shadow_ai.gatewaypolicy",
                 object_repr="Gateway policy order",
                 changes={"order": {"old": [names[i] for i in current], "new": [names[i] for i in wanted]}})
    _changed()
    return True


def gateway_policy_move(*, actor: User, policy: GatewayPolicy, direction: str) -> bool:
    """One step ``up`` (earlier) or ``down``; False at either end."""
    if direction not in ("up", "down"):
        raise ValidationFailed("Move up or down.", field="direction")
    ids = list(GatewayPolicy.objects.order_by("position", "pk").values_list("pk", flat=True))
    if policy.pk not in ids:
        return False
    index = ids.index(policy.pk)
    target = index - 1 if direction == "up" else index + 1
    if not 0 <= target < len(ids):
        return False
    ids[index], ids[target] = ids[target], ids[index]
    return gateway_policies_reorder(actor=actor, policy_ids=ids)
