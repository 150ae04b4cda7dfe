"""Deciding a request end to end: build the contexts, ask the engine, keep the session, sign
the token, write the authentication log. The decision API, the App Launcher and session
re-evaluation all come through here; the policy tester calls the engine directly (it records
nothing)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import iptocc
import jwt
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from console.access import engine, facts, policies, tokens
from console.access.models import (
    AccessLogEntry,
    AccessSession,
    Application,
    Device,
    ServiceToken,
)

# The shortest token we hand out, even for "expires immediately": long enough for the proxy to
# act on this one answer.
MIN_TOKEN_SECONDS = 30


@dataclass
class Outcome:
    decision: engine.Decision
    application: Application
    user: User | None = None
    session: AccessSession | None = None
    token: str = ""
    expires_at: datetime | None = None
    problem: str = ""  # why an identity could not be established (bad token, unknown user...)
    log: AccessLogEntry | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        return self.decision.outcome.value


def parse_ip(value: str | None) -> engine.IPAddress | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def country_of(ip: engine.IPAddress | None) -> str:
    """Offline lookup from registry data; never a web service."""
    if ip is None or not ip.is_global:
        return ""
    return iptocc.country_code(str(ip)) or ""


def device_posture(device: Device | None) -> engine.DevicePosture | None:
    if device is None:
        return None
    return engine.DevicePosture(
        device_id=device.device_id, managed=device.managed, os=device.os, os_version=device.os_version,
        disk_encrypted=device.disk_encrypted, edr_score=device.edr_score,
    )


def service_token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def authenticate_service_token(client_id: str, client_secret: str) -> ServiceToken | None:
    token = ServiceToken.objects.filter(client_id=client_id).first()
    if token is None or not token.is_usable:
        return None
    if not hmac.compare_digest(token.secret_hash, service_token_hash(client_secret)):
        return None
    ServiceToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def request_context(
    *, ip: str | None, country: str = "", service_token: ServiceToken | None = None,
    device: Device | None = None, now: datetime | None = None,
) -> engine.RequestContext:
    address = parse_ip(ip)
    return engine.RequestContext(
        now=now or timezone.now(), ip=address, country=(country or country_of(address)).upper()[:2],
        service_token=str(service_token.pk) if service_token else "", device=device_posture(device),
    )


def _session_seconds(policy_set: policies.PolicySet, decision: engine.Decision) -> int:
    if decision.policy is not None and decision.policy.session_seconds is not None:
        return decision.policy.session_seconds
    return policy_set.session_seconds


def _keep_session(
    *, user: User | None, service_token: ServiceToken | None, application: Application,
    decision: engine.Decision, seconds: int, request: engine.RequestContext, device: Device | None,
    identity_provider: str, auth_methods: Iterable[str], session: AccessSession | None,
) -> AccessSession:
    expires = request.now + timedelta(seconds=max(seconds, MIN_TOKEN_SECONDS))
    policy_id = decision.policy.id if decision.policy else None
    policy_name = decision.policy.name if decision.policy else ""
    if session is None:
        lookup = AccessSession.objects.filter(
            application=application, revoked_at__isnull=True, expires_at__gt=request.now,
        )
        if user is not None:
            lookup = lookup.filter(user=user)
        else:
            lookup = lookup.filter(user__isnull=True, service_token=service_token)
        session = lookup.order_by("-last_seen_at").first()
    if session is None:
        return AccessSession.objects.create(
            user=user, service_token=service_token, application=application, policy_id=policy_id,
            policy_name=policy_name, created_at=request.now, last_seen_at=request.now, expires_at=expires,
            ip=str(request.ip) if request.ip else None, country=request.country,
            device_id=device.device_id if device else "", identity_provider=identity_provider,
            auth_methods=sorted(auth_methods),
        )
    session.last_seen_at = request.now
    session.expires_at = max(session.expires_at, expires) if seconds else expires
    session.policy_id, session.policy_name = policy_id, policy_name
    session.ip = str(request.ip) if request.ip else session.ip
    session.country = request.country or session.country
    session.save(update_fields=["last_seen_at", "expires_at", "policy", "policy_name", "ip", "country"])
    return session


def decide(
    *,
    application: Application,
    source: str,
    issuer: str,
    user: User | None = None,
    token: str = "",
    ip: str | None = None,
    country: str = "",
    service_token: ServiceToken | None = None,
    device_id: str = "",
    identity_provider: str = "",
    auth_methods: Iterable[str] = (),
    claims: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Decide one request. Identity comes from ``user`` (the caller authenticated the person),
    or from ``token`` (an application token this console issued earlier), or is absent (a
    machine presenting ``service_token``)."""
    now = now or timezone.now()
    session: AccessSession | None = None
    problem = ""
    if token:
        try:
            claims_in = tokens.verify(token, audience=application.aud, issuer=issuer)
            session = AccessSession.objects.select_related("user").filter(pk=claims_in["jti"]).first()
        except (jwt.InvalidTokenError, ValueError, KeyError) as exc:
            problem = f"the application token is not valid ({exc.__class__.__name__})"
        else:
            if session is None or session.revoked_at is not None:
                problem = "the session of this token was revoked"
                session = None
            elif session.expires_at <= now:
                problem = "the session of this token has expired"
                session = None
            else:
                user = session.user
                identity_provider = session.identity_provider
                auth_methods = session.auth_methods
    if problem:
        user = None
    if user is not None and not user.is_active:
        problem, user = "the account is deactivated", None

    device = Device.objects.filter(device_id=device_id).first() if device_id else None
    if device is not None and user is not None and device.user_id != user.pk:
        device = None  # someone else's device says nothing about this request
    request = request_context(ip=ip, country=country, service_token=service_token, device=device, now=now)
    policy_set = policies.policy_set_for(application)

    if problem or (user is None and service_token is None):
        decision = engine.NO_MATCH
    else:
        context = facts.user_context(
            user, identity_provider=identity_provider, auth_methods=auth_methods, claims=claims
        ) if user is not None else None
        decision = engine.decide(policy_set.policies, context, request)

    if decision.policy is not None and decision.policy.action == engine.Action.SERVICE_AUTH:
        # Service Auth lets the machine in, not a person: the session and token are the token's.
        user, identity_provider, auth_methods = None, "", ()
    result = Outcome(decision=decision, application=application, user=user, problem=problem)
    with transaction.atomic():
        if decision.outcome == engine.Outcome.ALLOW:
            seconds = _session_seconds(policy_set, decision)
            session = _keep_session(
                user=user, service_token=service_token, application=application, decision=decision,
                seconds=seconds, request=request, device=device, identity_provider=identity_provider,
                auth_methods=auth_methods, session=session,
            )
            result.session = session
            result.expires_at = session.expires_at
            token_expiry = min(session.expires_at, now + timedelta(seconds=max(seconds, MIN_TOKEN_SECONDS)))
            result.token = tokens.issue(
                key=tokens.current_key(), issuer=issuer, audience=application.aud,
                subject=str(user.pk) if user else (
                    f"service-token:{service_token.pk}" if service_token else "non-identity"
                ),
                session_id=str(session.pk), expires_at=token_expiry, issued_at=now,
                claims={
                    "email": user.email if user else "",
                    "type": "app" if user else "service",
                    "identity_provider": identity_provider,
                    "amr": sorted(auth_methods),
                    "country": request.country,
                    "policy": decision.policy.name if decision.policy else "",
                },
            )
            result.expires_at = token_expiry
        result.log = AccessLogEntry.objects.create(
            at=now, user_id=user.pk if user else None,
            email=user.email if user else (f"service token {service_token.name}" if service_token else ""),
            application_id=application.pk, application_name=application.name,
            outcome=decision.outcome.value,
            policy_id=decision.policy.id if decision.policy else None,
            policy_name=decision.policy.name if decision.policy else "",
            reason=(f"Denied: {problem}." if problem else decision.reason)[:300],
            challenge=[c.as_dict() for c in decision.challenge],
            ip=str(request.ip) if request.ip else None, country=request.country,
            method=("service token" if service_token and user is None else identity_provider)[:60],
            source=source, session_id=session.pk if session else None,
        )
    return result


def new_client_id() -> str:
    return f"{uuid.uuid4().hex}.access"
