"""Reads of risk scoring, for views, the API and Access."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Max, Model, Q, QuerySet
from django.db.models.functions import Coalesce

from accounts.models import User
from console.access import hotcache
from console.core.permissions import get_for_role
from console.core.roles import CONSOLE_READERS
from risk.behaviours import REGISTRY
from risk.models import (
    AuthEvent,
    BehaviourConfig,
    DeviceSignal,
    GatewayDnsEvent,
    GatewayHttpEvent,
    IngestBatch,
    Level,
    RescoreRun,
    RiskEvent,
    RiskLevelChange,
    TelemetrySource,
    UserRisk,
)
from risk.scoring import EPOCH

_ALL = object()


def risk_facts(user: User) -> dict[str, Any]:
    """Access facts provider: the person's risk level. The levels of everyone scored are read in
    one query per cache version, so decisions do not query per person."""
    table = hotcache.table("risk_levels")
    levels = table.get(_ALL)
    if levels is None:
        # One entry holding every level: the table is bounded, and a person dropped from it must
        # never read as unscored.
        levels = dict(UserRisk.objects.exclude(level=Level.UNSCORED).values_list("user_id", "level"))
        table[_ALL] = levels
    return {"risk_level": Level(levels.get(user.pk, 0)).key}


def level_of(user: User) -> Level:
    found = UserRisk.objects.filter(pk=user.pk).values_list("level", flat=True).first()
    return Level(found or 0)


def risk_of(user: User) -> UserRisk | None:
    return UserRisk.objects.filter(pk=user.pk).first()


def level_counts() -> dict[int, int]:
    """Level → how many people are at it."""
    return dict(UserRisk.objects.values_list("level").annotate(n=Count("pk")).order_by())


def enabled_behaviour_count() -> int:
    return BehaviourConfig.objects.filter(enabled=True).count()


def latest_rescore() -> RescoreRun | None:
    return RescoreRun.objects.first()


def get_rescore_for(viewer: User, pk: int) -> RescoreRun:
    return get_for_role(RescoreRun.objects.all(), viewer, pk, "rescore", CONSOLE_READERS)


def telemetry_sources() -> QuerySet[TelemetrySource]:
    return TelemetrySource.objects.all()


def get_source_for(viewer: User, pk: int) -> TelemetrySource:
    return get_for_role(TelemetrySource.objects.all(), viewer, pk, "telemetry source", CONSOLE_READERS)


def batches_of(source: TelemetrySource) -> QuerySet[IngestBatch]:
    """The source's ingest batches, without their payloads."""
    return IngestBatch.objects.filter(source=source).defer("payload")


def telemetry_rows(model: type[Model]) -> QuerySet:
    """Every kept row of one telemetry table (``AuthEvent``, ``GatewayHttpEvent``...)."""
    return model._default_manager.all()


def get_telemetry_row_for(viewer: User, model: type[Model], pk: int) -> Model:
    """One telemetry row; a 404 when retention has already pruned it."""
    return get_for_role(model._default_manager.all(), viewer, pk, "telemetry row", CONSOLE_READERS)


def events_from(source_kind: str, source_id: int) -> QuerySet[RiskEvent]:
    """The behaviour events one telemetry row triggered."""
    return RiskEvent.objects.filter(source_kind=source_kind, source_id=source_id).select_related("user")


def users_at_risk() -> QuerySet[UserRisk]:
    """Everyone with a score (or a reset in their history), with their event counts since reset."""
    return (
        UserRisk.objects.select_related("user")
        .annotate(
            events=Count("user__risk_events", filter=Q(user__risk_events__at__gt=_reset_or_epoch())),
            last_event=Max("user__risk_events__at"),
        )
    )


def _reset_or_epoch():
    return Coalesce(F("last_reset_at"), EPOCH)


def contributing_events(user: User) -> QuerySet[RiskEvent]:
    risk = UserRisk.objects.filter(pk=user.pk).first()
    events = RiskEvent.objects.filter(user=user)
    if risk is not None and risk.last_reset_at is not None:
        events = events.filter(at__gt=risk.last_reset_at)
    return events.order_by("-at", "-id")


def history(user: User) -> QuerySet[RiskLevelChange]:
    return RiskLevelChange.objects.filter(user=user).order_by("-at", "-id")


SOURCE_MODELS = {
    RiskEvent.SourceKind.AUTH: AuthEvent,
    RiskEvent.SourceKind.GATEWAY_HTTP: GatewayHttpEvent,
    RiskEvent.SourceKind.GATEWAY_DNS: GatewayDnsEvent,
    RiskEvent.SourceKind.DEVICE: DeviceSignal,
}


def behaviour_name(key: str) -> str:
    behaviour = REGISTRY.get(key)
    return behaviour.name if behaviour else key
