"""Risk configuration: the behaviours' settings (enabled, level, parameters) and the look-back window.
A change to what counts rescores everyone."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from console.audit.services import audit_record
from console.core.errors import ValidationFailed
from console.core.permissions import require_role
from console.core.roles import ADMINS
from risk.behaviours import REGISTRY, ParamError
from risk.models import BehaviourConfig, Level, RiskLevelChange, RiskSettings
from risk.services.queueing import start_rescore

log = logging.getLogger(__name__)


def ensure_configs() -> dict[str, BehaviourConfig]:
    """Configuration rows for every registered behaviour (created disabled, at the default level)."""
    existing = {c.key: c for c in BehaviourConfig.objects.all()}
    missing = [
        BehaviourConfig(key=key, enabled=False, level=b.default_level, params=b.default_params())
        for key, b in REGISTRY.items() if key not in existing
    ]
    if missing:
        BehaviourConfig.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {c.key: c for c in BehaviourConfig.objects.all()}
    return existing


def risk_settings() -> RiskSettings:
    found = RiskSettings.objects.order_by("pk").first()
    return found or RiskSettings.objects.create()


def params_of(config: BehaviourConfig) -> dict[str, Any]:
    """The behaviour's parameters as stored, falling back to defaults for anything unusable
    (a parameter a newer version added, say)."""
    behaviour = REGISTRY[config.key]
    params = behaviour.default_params()
    for name, value in (config.params or {}).items():
        try:
            params[name] = behaviour.clean_params({name: value})[name]
        except ParamError:
            log.warning("risk behaviour %s: ignoring unusable parameter %s", config.key, name)
    return params


@transaction.atomic
def behaviour_update(
    *, actor: User, key: str, enabled: bool, level: int | str, params: Mapping[str, Any],
) -> BehaviourConfig:
    require_role(actor, ADMINS, "change risk behaviours")
    if key not in REGISTRY:
        raise ValidationFailed(f"There is no risk behaviour {key!r}.", field="key")
    ensure_configs()
    config = BehaviourConfig.objects.select_for_update().get(key=key)
    try:
        new_level = Level(int(level)) if str(level).isdigit() else Level.from_name(str(level))
    except (KeyError, ValueError):
        raise ValidationFailed("Pick Low, Medium or High.", field="level") from None
    if new_level == Level.UNSCORED:
        raise ValidationFailed("Pick Low, Medium or High.", field="level")
    try:
        cleaned = REGISTRY[key].clean_params(params)
    except ParamError as exc:
        raise ValidationFailed(str(exc), field="params") from None
    before = {"enabled": config.enabled, "level": Level(config.level).label, "params": params_of(config)}
    after = {"enabled": bool(enabled), "level": new_level.label, "params": cleaned}
    if before == after:
        return config
    config.enabled, config.level, config.params = bool(enabled), int(new_level), cleaned
    config.updated_at, config.updated_by_email = timezone.now(), actor.email
    config.save(update_fields=["enabled", "level", "params", "updated_at", "updated_by_email"])
    audit_record(actor=actor, action="risk.behaviour.updated", obj=config, object_repr=REGISTRY[key].name,
                 changes={k: {"old": before[k], "new": after[k]} for k in before if before[k] != after[k]})
    if before["enabled"] != after["enabled"] or before["level"] != after["level"]:
        # What counts changed for everyone: rescore everyone (the history says why).
        start_rescore(requested_by=actor.email, cause=RiskLevelChange.Cause.CONFIGURATION)
    return config


@transaction.atomic
def settings_update(*, actor: User, lookback_days: int) -> RiskSettings:
    require_role(actor, ADMINS, "change risk settings")
    try:
        days = int(lookback_days)
    except (TypeError, ValueError):
        raise ValidationFailed("Give a number of days (0 for no limit).", field="lookback_days") from None
    if not 0 <= days <= 3650:
        raise ValidationFailed("Give between 0 and 3650 days (0 for no limit).", field="lookback_days")
    current = risk_settings()
    if current.lookback_days == days:
        return current
    audit_record(actor=actor, action="risk.settings.updated", obj=current,
                 changes={"lookback_days": {"old": current.lookback_days, "new": days}})
    current.lookback_days, current.updated_at, current.updated_by_email = days, timezone.now(), actor.email
    current.save(update_fields=["lookback_days", "updated_at", "updated_by_email"])
    start_rescore(requested_by=actor.email, cause=RiskLevelChange.Cause.CONFIGURATION)
    return current
