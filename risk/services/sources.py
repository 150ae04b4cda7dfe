"""Telemetry sources: the senders of telemetry and their bearer tokens."""

from __future__ import annotations

import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from console.access import decisions as access_decisions
from console.audit.services import audit_record
from console.core.api import bearer_credential
from console.core.errors import ValidationFailed
from console.core.names import clean_name, require_free_name
from console.core.permissions import require_role
from console.core.roles import ADMINS
from risk.models import TelemetryKind, TelemetrySource


def _token_hash(secret: str) -> str:
    return access_decisions.service_token_hash(secret)


@transaction.atomic
def telemetry_source_create(*, actor: User, name: str, kind: str) -> tuple[TelemetrySource, str]:
    """A new sender and its bearer token (returned once, never stored)."""
    require_role(actor, ADMINS, "create telemetry sources")
    name = clean_name(name)
    if kind not in TelemetryKind.values:
        raise ValidationFailed("Pick what this source sends.", field="kind")
    require_free_name(TelemetrySource.objects, name, f"A telemetry source named {name} already exists.")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    source = TelemetrySource.objects.create(name=name, kind=kind, prefix=prefix, secret_hash=_token_hash(secret),
                                            created_by_email=actor.email)
    audit_record(actor=actor, action="risk.source.created", obj=source,
                 changes={"name": {"old": None, "new": name}, "kind": {"old": None, "new": kind}})
    return source, f"zts_{prefix}_{secret}"


@transaction.atomic
def telemetry_source_revoke(*, actor: User, source: TelemetrySource) -> None:
    require_role(actor, ADMINS, "revoke telemetry sources")
    source = TelemetrySource.objects.select_for_update().get(pk=source.pk)
    if source.revoked_at is not None:
        return
    source.revoked_at = timezone.now()
    source.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="risk.source.revoked", obj=source,
                 changes={"revoked_at": {"old": None, "new": source.revoked_at}})


def authenticate_source(header: str) -> TelemetrySource | None:
    """The active source a ``Bearer zts_…`` header belongs to, or ``None``."""

    credential = bearer_credential(header, "zts")
    if credential is None:
        return None
    prefix, secret = credential
    source = TelemetrySource.objects.filter(prefix=prefix).first()
    if source is None or not hmac.compare_digest(source.secret_hash, _token_hash(secret)):
        return None
    if source.revoked_at is not None:
        return None
    return source
