"""Deciding a request end to end: build the contexts, ask the engine, keep the session, sign
the token, write the authentication log. The decision API, the App Launcher and session
re-evaluation all come through here; the policy tester calls the engine directly (it records
nothing).

The common case reads only process caches and one round trip to the shared cache
(``hotcache``); the database is written when a session starts, when its expiry needs moving
(at most every ``ACCESS_SESSION_WRITE_SECONDS``), and by the batched authentication log."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import iptocc
import jwt
from django.utils import timezone

from accounts.models import User
from console.access import engine, facts, hotcache, logbuffer, policies, selectors, tokens
from console.access.models import (
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
    session: SessionRef | None = None
    token: str = ""
    expires_at: datetime | None = None
    problem: str = ""  # why an identity could not be established (bad token, unknown user...)
    log: SimpleNamespace | None = None  # the fields of the AccessLogEntry written for it
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        return self.decision.outcome.value


@dataclass
class Person:
    """A user and their directory groups, as cached for decisions."""

    user: User
    groups: frozenset[int]


@dataclass
class SessionRef:
    """The session a decision kept, as the caller needs it (a model instance costs more to build)."""

    pk: uuid.UUID
    user: User | None
    service_token: ServiceToken | None
    expires_at: datetime


@dataclass
class SessionState:
    id: uuid.UUID
    expires_at: datetime
    written_at: datetime
    # The last token signed for this session, reused while the same claims would be signed again.
    token: str = ""
    token_key: tuple = ()
    token_expires_at: datetime | None = None


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


# --- Cached lookups (valid for the current Access version) --------------------------------------


_MISS = object()


def _cached(table: str, key: Any, load: Callable[[], Any]) -> Any:
    """``load()`` once per Access version for ``key``. Only what was found is kept: the keys come
    from requests (token prefixes, client ids, host names, e-mail addresses), and keeping every
    miss would let anyone grow the process with made-up keys. The tables are bounded too."""
    found = hotcache.table(table)
    value = found.get(key, _MISS)
    if value is not _MISS:
        return value
    value = load()
    if value is not None:
        found[key] = value
    return value


def _load_person(**lookup: Any) -> Person | None:
    user = User.objects.filter(is_active=True, **lookup).first()
    if user is None:
        return None
    person = Person(user, facts.groups_by_user([user.pk]).get(user.pk, frozenset()))
    hotcache.table("people_by_email")[user.email] = person
    hotcache.table("people_by_id")[user.pk] = person
    return person


def person_by_email(email: str) -> Person | None:
    return _cached("people_by_email", email, lambda: _load_person(email=email))


def person_by_id(user_id: int) -> Person | None:
    return _cached("people_by_id", user_id, lambda: _load_person(pk=user_id))


def application_by_aud(aud: str) -> Application | None:
    return _cached("apps_by_aud", aud, lambda: Application.objects.filter(aud=aud).defer("logo").first())


def application_for_host(hostname: str, path: str) -> Application | None:
    return _cached("apps_by_host", (hostname, path), lambda: selectors.application_for_host(hostname, path))


def device_by_id(device_id: str) -> Device | None:
    return _cached("devices", device_id, lambda: Device.objects.filter(device_id=device_id).first())


def _touch(model, obj, now: datetime) -> None:
    """Record use at most once a minute per process."""
    if obj.last_used_at is None or obj.last_used_at < now - timedelta(minutes=1):
        obj.last_used_at = now
        model.objects.filter(pk=obj.pk).update(last_used_at=now)


def authenticate_service_token(client_id: str, client_secret: str) -> ServiceToken | None:
    token = _cached("service_tokens", client_id, lambda: ServiceToken.objects.filter(client_id=client_id).first())
    if token is None or not token.is_usable:
        return None
    if not hmac.compare_digest(token.secret_hash, service_token_hash(client_secret)):
        return None
    _touch(ServiceToken, token, timezone.now())
    return token


def request_context(
    *, ip: str | engine.IPAddress | None, country: str = "", service_token: ServiceToken | None = None,
    device: Device | None = None, now: datetime | None = None,
) -> engine.RequestContext:
    address = ip if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address) else parse_ip(ip)
    return engine.RequestContext(
        now=now or timezone.now(), ip=address, country=(country or country_of(address)).upper()[:2],
        service_token=str(service_token.pk) if service_token else "", device=device_posture(device),
    )


def _session_seconds(policy_set: policies.PolicySet, decision: engine.Decision) -> int:
    if decision.policy is not None and decision.policy.session_seconds is not None:
        return decision.policy.session_seconds
    return policy_set.session_seconds


def _session_key(user: User | None, service_token: ServiceToken | None, application: Application,
                 console_session_hash: str = "") -> tuple:
    """A person has one Access session per application per console session (browser) that opened
    it, and one for the decision API's requests that name no console session."""
    if user is not None:
        return ("user", user.pk, application.pk, console_session_hash)
    return ("machine", service_token.pk if service_token else None, application.pk)


def console_session_of(session_id: str) -> str:
    """The keyed hash of the console session that opened an Access session ("" if none)."""
    return _cached("session_bindings", session_id, lambda: AccessSession.objects.filter(pk=session_id).values_list(
        "console_session_hash", flat=True).first() or "")


def _keep_session(
    *, user: User | None, service_token: ServiceToken | None, application: Application,
    decision: engine.Decision, seconds: int, request: engine.RequestContext, device: Device | None,
    identity_provider: str, auth_methods: Iterable[str], known: SessionState | None, from_token: bool = False,
    console_session_hash: str = "",
) -> SessionRef | None:
    """Extend the open session (writing its expiry back only now and then) or start one.
    ``None`` when ``known`` came from an application token and the database says that session
    is no longer open (revoked): a token never opens a new session."""
    now = request.now
    wanted = now + timedelta(seconds=max(seconds, MIN_TOKEN_SECONDS))
    policy_id = decision.policy.id if decision.policy else None
    policy_name = decision.policy.name if decision.policy else ""
    sessions = hotcache.table("sessions")
    key = _session_key(user, service_token, application, console_session_hash)
    if known is None:
        # Not cached in this process (yet): the database knows whether one is open.
        lookup = AccessSession.objects.filter(application=application, revoked_at__isnull=True, expires_at__gt=now)
        if user is not None:
            lookup = lookup.filter(user=user, console_session_hash=console_session_hash)
        else:
            lookup = lookup.filter(user__isnull=True, service_token=service_token)
        row = lookup.order_by("-last_seen_at").values_list("pk", "expires_at", "last_seen_at").first()
        if row is not None:
            known = sessions[key] = SessionState(*row)
    if known is not None and known.expires_at > now:
        # Write the expiry back now and then, and before the stored one runs short.
        stale = (
            (now - known.written_at).total_seconds() >= hotcache.config().session_write_seconds
            or (known.expires_at - now).total_seconds() < MIN_TOKEN_SECONDS / 2
        )
        if not stale:
            return SessionRef(known.id, user, service_token, known.expires_at)
        new_expiry = max(known.expires_at, wanted) if seconds else wanted
        updated = AccessSession.objects.filter(pk=known.id, revoked_at__isnull=True).update(
            last_seen_at=now, expires_at=new_expiry, policy_id=policy_id, policy_name=policy_name,
            ip=str(request.ip) if request.ip else None, country=request.country, step_up_required_at=None,
            step_up_reason="",
        )
        if updated:
            sessions[key] = SessionState(known.id, new_expiry, now)
            return SessionRef(known.id, user, service_token, new_expiry)
        if from_token:
            sessions.pop(key, None)
            return None
    session = AccessSession.objects.create(
        user=user, service_token=service_token, application=application, policy_id=policy_id,
        policy_name=policy_name, created_at=now, last_seen_at=now, expires_at=wanted,
        ip=str(request.ip) if request.ip else None, country=request.country,
        device_id=device.device_id if device else "", identity_provider=identity_provider,
        auth_methods=sorted(auth_methods), console_session_hash=console_session_hash if user is not None else "",
    )
    sessions[key] = SessionState(session.pk, session.expires_at, now)
    return SessionRef(session.pk, user, service_token, session.expires_at)


def _signing_key():
    return _cached("signing_key", "current", tokens.current_key)


def _verify_token(token: str, application: Application, issuer: str) -> tuple[dict[str, Any], str]:
    """The claims of an application token this console issued, or why it cannot be used."""
    if not token:
        return {}, ""
    try:
        return tokens.verify(token, audience=application.aud, issuer=issuer), ""
    except jwt.ExpiredSignatureError:
        return {}, "the session of this token has expired"
    except (jwt.InvalidTokenError, ValueError, KeyError) as exc:
        return {}, f"the application token is not valid ({exc.__class__.__name__})"


def _cached_session(
    *, application: Application, user: User | None, email: str, service_token: ServiceToken | None,
    console_session_hash: str, token_claims: dict[str, Any],
) -> tuple[dict, SessionState | None, set]:
    """The sessions table, the cached Access session the request would continue (``None`` once
    revoked) and the revoked session ids, in one round trip to the shared cache: the shared version,
    and whether the sessions in question were revoked."""
    candidate_key = None
    if user is None and email:
        known = hotcache.table("people_by_email").get(email)  # a peek: nothing is loaded yet
        if known is not None:
            candidate_key = _session_key(known.user, None, application)
    elif user is not None or service_token is not None:
        candidate_key = _session_key(user, service_token, application, console_session_hash)
    candidate = hotcache.table("sessions").get(candidate_key) if candidate_key is not None else None
    asked = []
    if token_claims:
        asked.append(token_claims["jti"])
    if candidate is not None:
        asked.append(candidate.id)
    # A token's revocation is checked on every decision; the rest at most every
    # ACCESS_CACHE_SECONDS, which spares the common case its only round trip.
    revoked = hotcache.sync(asked) if (token_claims or hotcache.is_stale()) else set()
    sessions = hotcache.table("sessions")  # a new version starts from an empty table
    if candidate is not None and (str(candidate.id) in revoked or sessions.get(candidate_key) is not candidate):
        candidate = None
    return sessions, candidate, revoked


def _token_identity(
    claims: dict[str, Any], *, revoked: set, sessions: dict, application: Application, now: datetime
) -> tuple[Person | None, str, SessionState | None, str]:
    """The person an application token speaks for, the problem with it, the Access session it
    belongs to and the console session (browser) that opened that session."""
    if str(claims["jti"]) in revoked:
        return None, "the session of this token was revoked", None, ""
    if claims.get("type") != "app":
        return None, "machine tokens are checked with their service token", None, ""
    person = person_by_id(int(claims["sub"]))
    if person is None:
        return None, "the account is deactivated", None, ""
    # The token speaks for the browser whose Access session it belongs to.
    console_session_hash = console_session_of(claims["jti"])
    token_key = _session_key(person.user, None, application, console_session_hash)
    state = sessions.get(token_key)
    if state is None or str(state.id) != claims["jti"]:
        expires = datetime.fromtimestamp(claims["exp"], tz=now.tzinfo)
        state = SessionState(uuid.UUID(claims["jti"]), expires, now)
        sessions[token_key] = state
    return person, "", state, console_session_hash


def _named_identity(user: User | None, email: str) -> tuple[Person | None, str]:
    """The person the caller authenticated (``user`` or a bare ``email``), or why there is none."""
    if user is not None:
        person = person_by_id(user.pk)
        return person, "" if person is not None else "the account is deactivated"
    if email:
        person = person_by_email(email)
        return person, "" if person is not None else "no active user has that e-mail"
    return None, ""


def _evaluate(
    *, application: Application, person: Person | None, problem: str, service_token: ServiceToken | None,
    device: Device | None, request: engine.RequestContext, policy_set: policies.PolicySet,
    identity_provider: str, auth_methods: Iterable[str], claims: Mapping[str, Any] | None,
    console_session_hash: str,
) -> engine.Decision:
    """The facts about the person and the engine's decision over the application's policies."""
    if problem or (person is None and service_token is None):
        return engine.NO_MATCH
    context = facts.user_context(
        person.user, identity_provider=identity_provider, auth_methods=auth_methods, claims=claims,
        groups=person.groups, session=facts.SessionScope(console_session_hash),
    ) if person is not None else None
    return engine.decide(policy_set.policies, context, request)


def _sign_token(
    result: Outcome, *, session: SessionRef, seconds: int, request: engine.RequestContext, issuer: str,
    service_token: ServiceToken | None, identity_provider: str, auth_methods: Iterable[str],
    console_session_hash: str,
) -> None:
    """Give an allowed ``result`` its application token: the session's last one while it is fresh
    and would carry the same claims, else a newly signed one."""
    now, user, application, decision = request.now, result.user, result.application, result.decision
    token_expiry = min(session.expires_at, now + timedelta(seconds=max(seconds, MIN_TOKEN_SECONDS)))
    state = hotcache.table("sessions").get(_session_key(user, service_token, application, console_session_hash))
    token_key = (issuer, application.aud, decision.policy.name if decision.policy else "", request.country,
                 identity_provider, tuple(sorted(auth_methods)))
    if state is not None and state.id == session.pk and state.token and state.token_key == token_key:
        lifetime = (token_expiry - now).total_seconds()
        remaining = (state.token_expires_at - now).total_seconds()
        # Signing costs more than the rest of a decision: reuse a token while it is fresh
        # (more than half its life left, at most a minute behind a sliding expiry).
        if remaining >= lifetime / 2 and (token_expiry - state.token_expires_at).total_seconds() <= 60:
            result.token, result.expires_at = state.token, state.token_expires_at
            return
    result.token = tokens.issue(
        key=_signing_key(), issuer=issuer, audience=application.aud,
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
    if state is not None and state.id == session.pk:
        state.token, state.token_key, state.token_expires_at = result.token, token_key, token_expiry


def _log_entry(
    result: Outcome, *, request: engine.RequestContext, service_token: ServiceToken | None,
    identity_provider: str, source: str,
) -> SimpleNamespace:
    """The fields of the authentication log entry for ``result``."""
    user, decision, problem, session = result.user, result.decision, result.problem, result.session
    return SimpleNamespace(
        at=request.now, user_id=user.pk if user else None,
        email=user.email if user else (f"service token {service_token.name}" if service_token else ""),
        application_id=result.application.pk, application_name=result.application.name,
        outcome=decision.outcome.value,
        policy_id=decision.policy.id if decision.policy else None,
        policy_name=decision.policy.name if decision.policy else "",
        reason=(f"Denied: {problem}." if problem else decision.reason)[:300],
        challenge=[c.as_dict() for c in decision.challenge],
        ip=str(request.ip) if request.ip else None, country=request.country,
        method=("service token" if service_token and user is None else identity_provider)[:60],
        mfa_method=decision.mfa_method, source=source, session_id=session.pk if session else None,
    )


def decide(
    *,
    application: Application,
    source: str,
    issuer: str,
    user: User | None = None,
    email: str = "",
    token: str = "",
    ip: str | engine.IPAddress | None = None,
    country: str = "",
    service_token: ServiceToken | None = None,
    device_id: str = "",
    identity_provider: str = "",
    auth_methods: Iterable[str] = (),
    claims: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    console_session_hash: str = "",
) -> Outcome:
    """Decide one request. Identity comes from ``user`` or ``email`` (the caller authenticated
    the person), or from ``token`` (an application token this console issued earlier), or is
    absent (a machine presenting ``service_token``).

    Verifications (MFA, identity verification) count only for the console session the request
    is about: ``console_session_hash`` (``mfa.binding``) for the App Launcher, the console
    session that opened the token's Access session for a token, none for a bare e-mail.

    The steps: the token, the cached session (one shared-cache round trip), the identity, the
    request's facts and the engine, the session kept, the token signed, the log entry."""
    now = now or timezone.now()
    token_claims, problem = _verify_token(token, application, issuer)
    sessions, candidate, revoked = _cached_session(
        application=application, user=user, email=email, service_token=service_token,
        console_session_hash=console_session_hash, token_claims=token_claims,
    )

    from_token = False
    if token_claims:
        person, problem, state, token_session_hash = _token_identity(
            token_claims, revoked=revoked, sessions=sessions, application=application, now=now,
        )
        if state is not None:
            identity_provider = token_claims.get("identity_provider", "")
            auth_methods = token_claims.get("amr", [])
            console_session_hash = token_session_hash
            candidate, from_token = state, True
    else:
        person, named_problem = _named_identity(user, email)
        problem = named_problem or problem
        if user is None and email:
            console_session_hash = ""  # a bare e-mail names no console session
    user = person.user if person is not None else None
    if problem:
        user, person, candidate = None, None, None

    device = device_by_id(device_id) if device_id else None
    if device is not None and user is not None and device.user_id != user.pk:
        device = None  # someone else's device says nothing about this request
    request = request_context(ip=ip, country=country, service_token=service_token, device=device, now=now)
    policy_set = policies.policy_set_for(application, synced=True)
    decision = _evaluate(
        application=application, person=person, problem=problem, service_token=service_token, device=device,
        request=request, policy_set=policy_set, identity_provider=identity_provider, auth_methods=auth_methods,
        claims=claims, console_session_hash=console_session_hash,
    )

    if decision.policy is not None and decision.policy.action == engine.Action.SERVICE_AUTH:
        # Service Auth lets the machine in, not a person: the session and token are the token's.
        user, identity_provider, auth_methods = None, "", ()
        candidate, from_token = sessions.get(_session_key(None, service_token, application)), False
    session: SessionRef | None = None
    if decision.outcome == engine.Outcome.ALLOW:
        seconds = _session_seconds(policy_set, decision)
        session = _keep_session(
            user=user, service_token=service_token, application=application, decision=decision,
            seconds=seconds, request=request, device=device, identity_provider=identity_provider,
            auth_methods=auth_methods, known=candidate, from_token=from_token,
            console_session_hash=console_session_hash,
        )
        if session is None:
            problem = "the session of this token was revoked"
            decision, user = engine.NO_MATCH, None
        elif user is not None:  # the token about to be signed speaks for this console session
            hotcache.table("session_bindings")[str(session.pk)] = console_session_hash
    result = Outcome(decision=decision, application=application, user=user, problem=problem)
    if decision.outcome == engine.Outcome.ALLOW:
        result.session = session
        _sign_token(
            result, session=session, seconds=seconds, request=request, issuer=issuer, service_token=service_token,
            identity_provider=identity_provider, auth_methods=auth_methods, console_session_hash=console_session_hash,
        )
    result.log = _log_entry(
        result, request=request, service_token=service_token, identity_provider=identity_provider, source=source,
    )
    logbuffer.record(result.log)
    return result


def log_denial(
    *, application: Application | None, source: str, reason: str, email: str = "",
    ip: engine.IPAddress | None = None, country: str = "", method: str = "",
) -> None:
    """Log a ``deny`` answered without a complete evaluation (the decision API failing closed,
    an unknown service token): every answered decision is in the authentication log."""
    logbuffer.record(SimpleNamespace(
        at=timezone.now(), user_id=None, email=email[:254], application_id=application.pk if application else None,
        application_name=application.name if application else "", outcome=engine.Outcome.DENY.value,
        policy_id=None, policy_name="", reason=reason[:300], challenge=[], ip=str(ip) if ip else None,
        country=(country or "")[:2], method=method[:60], source=source, session_id=None,
    ))


def new_client_id() -> str:
    return f"{uuid.uuid4().hex}.access"
