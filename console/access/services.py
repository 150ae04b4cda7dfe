"""Every write in Access: applications, policies and their order, service tokens, API tokens,
devices, sessions. Each checks the actor's role, runs in one transaction, writes its audit row
and, when a decision could change, bumps the compiled-policy version after commit."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from console.access import decisions, engine, hotcache, policies, signals
from console.access import facts as facts_module
from console.access.models import (
    SESSION_SECONDS,
    AccessSession,
    ApiToken,
    Application,
    ApplicationPolicy,
    Device,
    Policy,
    ServiceToken,
)
from console.audit.services import audit_record, diff, snapshot
from console.core.errors import Conflict, ValidationFailed
from console.core.names import clean_name, require_free_name
from console.core.permissions import require_role
from console.core.roles import ADMINS

HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
LOGO_MAX_BYTES = 256 * 1024
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"RIFF": "image/webp"}
MFA_FIELDS = ("mfa_mode", "mfa_methods", "mfa_reverify_minutes", "mfa_phishing_resistant")
APP_FIELDS = ("name", "type", "domain", "path", "url", "description", "launcher_visible", "session_seconds",
              *MFA_FIELDS)
POLICY_FIELDS = ("name", "action", "description", "rules", "session_seconds", *MFA_FIELDS)


def _clean_mfa(values: dict) -> dict:
    """The MFA level fields of an application or policy, checked."""
    mode = values.get("mfa_mode") or "respect"
    if mode not in ("respect", "custom", "disabled"):
        raise ValidationFailed(f"Unknown MFA setting {mode!r}.", field="mfa_mode")
    methods = sorted(set(values.get("mfa_methods") or []))
    unknown = [m for m in methods if m not in ("security_key", "biometrics", "totp")]
    if unknown:
        raise ValidationFailed(f"Unknown MFA method(s): {', '.join(unknown)}.", field="mfa_methods")
    minutes = values.get("mfa_reverify_minutes")
    minutes = 1440 if minutes is None else int(minutes)
    if not 0 <= minutes <= 43200:
        raise ValidationFailed("Between 0 and 43200 minutes (30 days).", field="mfa_reverify_minutes")
    return {"mfa_mode": mode, "mfa_methods": methods, "mfa_reverify_minutes": minutes,
            "mfa_phishing_resistant": bool(values.get("mfa_phishing_resistant"))}


def decision_inputs_changed() -> None:
    """What the decision cache holds changed: every worker re-reads it once this commits."""
    transaction.on_commit(policies.bump_version)


# --- Applications -----------------------------------------------------------------------------


def _clean_application(
    *, name: str, type: str, domain: str, path: str, url: str, session_seconds: int, app: Application | None
) -> tuple[str, str, str, str]:
    name = clean_name(name, limit=None)
    require_free_name(Application.objects, name, f"An application named {name} already exists.", instance=app)
    if type not in Application.Type.values:
        raise ValidationFailed(f"Unknown application type {type!r}.", field="type")
    domain = (domain or "").strip().lower().rstrip(".")
    if domain.startswith(("http://", "https://")):
        raise ValidationFailed("Enter only the hostname, without http:// or https://.", field="domain")
    if domain and not HOSTNAME_RE.match(domain):
        raise ValidationFailed(f"{domain} is not a valid hostname.", field="domain")
    if type == Application.Type.SELF_HOSTED and not domain:
        raise ValidationFailed("A self-hosted application needs the hostname it is served on.", field="domain")
    path = (path or "").strip()
    if path and not path.startswith("/"):
        raise ValidationFailed("A path starts with /.", field="path")
    url = (url or "").strip()
    if type in (Application.Type.SAAS, Application.Type.BOOKMARK) and not url:
        raise ValidationFailed("SaaS applications and bookmarks need the URL people open.", field="url")
    if url and not url.startswith(("https://", "http://")):
        raise ValidationFailed("The URL must start with https:// or http://.", field="url")
    if session_seconds not in SESSION_SECONDS:
        raise ValidationFailed("Pick a session duration from the list.", field="session_seconds")
    return name, domain, path, url


def _clean_logo(logo: bytes | None) -> tuple[bytes, str] | None:
    if not logo:
        return None
    if len(logo) > LOGO_MAX_BYTES:
        raise ValidationFailed("The logo is larger than 256 KB.", field="logo")
    for magic, content_type in LOGO_TYPES.items():
        if logo.startswith(magic) and (content_type != "image/webp" or logo[8:12] == b"WEBP"):
            return logo, content_type
    raise ValidationFailed("The logo must be a PNG, JPEG or WebP image.", field="logo")


@transaction.atomic
def application_create(
    *, actor: User, name: str, type: str, domain: str = "", path: str = "", url: str = "",
    description: str = "", launcher_visible: bool = True, session_seconds: int = 86400,
    logo: bytes | None = None, policy_ids: Sequence[int] = (), **mfa: Any,
) -> Application:
    """``mfa``: mfa_mode, mfa_methods, mfa_reverify_minutes, mfa_phishing_resistant."""
    require_role(actor, ADMINS, "create applications")
    name, domain, path, url = _clean_application(
        name=name, type=type, domain=domain, path=path, url=url, session_seconds=session_seconds, app=None
    )
    app = Application(
        name=name, type=type, domain=domain, path=path, url=url, description=(description or "").strip(),
        launcher_visible=launcher_visible, session_seconds=session_seconds, **_clean_mfa(mfa),
    )
    cleaned = _clean_logo(logo)
    if cleaned:
        app.logo, app.logo_type = cleaned
    app.save()
    audit_record(actor=actor, action="access.application.created", obj=app,
                 changes=diff({}, snapshot(app, APP_FIELDS)))
    if policy_ids:
        _set_policies(actor=actor, application=app, policy_ids=policy_ids)
    decision_inputs_changed()
    return app


@transaction.atomic
def application_update(
    *, actor: User, application: Application, name: str, type: str, domain: str = "", path: str = "",
    url: str = "", description: str = "", launcher_visible: bool = True, session_seconds: int = 86400,
    logo: bytes | None = None, remove_logo: bool = False, **mfa: Any,
) -> Application:
    require_role(actor, ADMINS, "change applications")
    app = Application.objects.select_for_update().get(pk=application.pk)
    name, domain, path, url = _clean_application(
        name=name, type=type, domain=domain, path=path, url=url, session_seconds=session_seconds, app=app
    )
    before = snapshot(app, APP_FIELDS)
    app.name, app.type, app.domain, app.path, app.url = name, type, domain, path, url
    app.description = (description or "").strip()
    app.launcher_visible, app.session_seconds = launcher_visible, session_seconds
    for field, value in _clean_mfa(mfa).items():
        setattr(app, field, value)
    changes = diff(before, snapshot(app, APP_FIELDS))
    cleaned = _clean_logo(logo)
    if cleaned:
        app.logo, app.logo_type = cleaned
        changes["logo"] = {"old": None, "new": "uploaded"}
    elif remove_logo and app.logo:
        app.logo, app.logo_type = None, ""
        changes["logo"] = {"old": "uploaded", "new": None}
    if not changes:
        return app
    app.save()
    audit_record(actor=actor, action="access.application.updated", obj=app, changes=changes)
    decision_inputs_changed()
    return app


@transaction.atomic
def application_delete(*, actor: User, application: Application) -> None:
    require_role(actor, ADMINS, "delete applications")
    sessions = AccessSession.objects.filter(application=application, revoked_at__isnull=True).count()
    audit_record(
        actor=actor, action="access.application.deleted", obj=application,
        changes={"name": {"old": application.name, "new": None}, "active_sessions_ended": sessions},
    )
    application.delete()
    decision_inputs_changed()


def facts_changed_later(user_id: int, reason: str) -> None:
    """Once the current transaction commits: drop every process's cached view of people and
    queue a re-evaluation of the user's sessions."""
    # tasks.py imports this module: imported on use to break the cycle.
    from console.access.tasks import reevaluate_user_sessions

    decision_inputs_changed()
    transaction.on_commit(lambda: reevaluate_user_sessions.delay(user_id, reason))


def _set_policies(*, actor: User, application: Application, policy_ids: Sequence[int]) -> bool:
    ids = [int(i) for i in policy_ids]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("A policy can be attached only once.", field="policies")
    found = {p.pk: p for p in Policy.objects.filter(pk__in=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationFailed(f"Unknown policy id(s) {missing}.", field="policies")
    before = list(application.attachments.order_by("position").values_list("policy__name", flat=True))
    after = [found[i].name for i in ids]
    if before == after:
        return False
    ApplicationPolicy.objects.filter(application=application).delete()
    ApplicationPolicy.objects.bulk_create(
        [ApplicationPolicy(application=application, policy_id=i, position=n) for n, i in enumerate(ids, start=1)]
    )
    audit_record(actor=actor, action="access.application.policies_set", obj=application,
                 changes={"policies": {"old": before, "new": after}})
    return True


@transaction.atomic
def application_set_policies(*, actor: User, application: Application, policy_ids: Sequence[int]) -> bool:
    """Attach exactly these policies, in this order of precedence."""
    require_role(actor, ADMINS, "change application policies")
    application = Application.objects.select_for_update().get(pk=application.pk)
    changed = _set_policies(actor=actor, application=application, policy_ids=policy_ids)
    if changed:
        decision_inputs_changed()
    return changed


# --- Policies ---------------------------------------------------------------------------------


def validate_rules(action: str, rules: Mapping[str, Any]) -> dict[str, list]:
    """Compile to check; raises ``ValidationFailed`` naming the rule, e.g. "include 2 (email)"."""
    clean = {k: list(rules.get(k) or []) for k in ("include", "require", "exclude")}
    try:
        engine.compile_policy(id=0, name="check", action=action, rules=clean)
    except engine.PolicyError as exc:
        raise ValidationFailed(f"{exc.where}: {exc.reason}" if exc.where else exc.reason, field="rules")
    return clean


def _clean_policy(*, name: str, action: str, session_seconds: int | None, policy: Policy | None) -> str:
    name = clean_name(name, limit=None)
    require_free_name(Policy.objects, name, f"A policy named {name} already exists.", instance=policy)
    if action not in Policy.Action.values:
        raise ValidationFailed(f"Unknown action {action!r}.", field="action")
    if session_seconds is not None and session_seconds not in SESSION_SECONDS:
        raise ValidationFailed("Pick a session duration from the list.", field="session_seconds")
    return name


@transaction.atomic
def policy_create(
    *, actor: User, name: str, action: str, rules: Mapping[str, Any], description: str = "",
    session_seconds: int | None = None, **mfa: Any,
) -> Policy:
    """``mfa`` (Allow policies): mfa_mode, mfa_methods, mfa_reverify_minutes, mfa_phishing_resistant."""
    require_role(actor, ADMINS, "create policies")
    name = _clean_policy(name=name, action=action, session_seconds=session_seconds, policy=None)
    policy = Policy.objects.create(
        name=name, action=action, rules=validate_rules(action, rules),
        description=(description or "").strip(), session_seconds=session_seconds, **_clean_mfa(mfa),
    )
    audit_record(actor=actor, action="access.policy.created", obj=policy,
                 changes=diff({}, snapshot(policy, POLICY_FIELDS)))
    return policy


@transaction.atomic
def policy_update(
    *, actor: User, policy: Policy, name: str, action: str, rules: Mapping[str, Any], description: str = "",
    session_seconds: int | None = None, **mfa: Any,
) -> Policy:
    # tasks.py imports this module: imported on use to break the cycle.
    from console.access.tasks import reevaluate_policy_sessions as task

    require_role(actor, ADMINS, "change policies")
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    name = _clean_policy(name=name, action=action, session_seconds=session_seconds, policy=policy)
    before = snapshot(policy, POLICY_FIELDS)
    policy.name, policy.action, policy.rules = name, action, validate_rules(action, rules)
    policy.description, policy.session_seconds = (description or "").strip(), session_seconds
    for field, value in _clean_mfa(mfa).items():
        setattr(policy, field, value)
    changes = diff(before, snapshot(policy, POLICY_FIELDS))
    if not changes:
        return policy
    policy.save()
    audit_record(actor=actor, action="access.policy.updated", obj=policy, changes=changes)
    decision_inputs_changed()

    transaction.on_commit(lambda: task.delay(policy.pk))
    return policy


@transaction.atomic
def policy_delete(*, actor: User, policy: Policy) -> None:
    require_role(actor, ADMINS, "delete policies")
    apps = list(policy.applications.values_list("name", flat=True))
    audit_record(actor=actor, action="access.policy.deleted", obj=policy,
                 changes={"name": {"old": policy.name, "new": None}, "applications": apps})
    policy.delete()
    decision_inputs_changed()


# --- Service tokens and API tokens ------------------------------------------------------------


@transaction.atomic
def service_token_create(*, actor: User, name: str, expires_at: datetime | None = None) -> tuple[ServiceToken, str]:
    """Returns the token and its secret; the secret is never retrievable again."""
    require_role(actor, ADMINS, "create service tokens")
    name = clean_name(name, limit=None)
    require_free_name(ServiceToken.objects, name, f"A service token named {name} already exists.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("The expiry must be in the future.", field="expires_at")
    secret = secrets.token_urlsafe(32)
    token = ServiceToken.objects.create(
        name=name, client_id=decisions.new_client_id(), secret_hash=decisions.service_token_hash(secret),
        expires_at=expires_at,
    )
    audit_record(actor=actor, action="access.service_token.created", obj=token,
                 changes={"name": {"old": None, "new": name}, "client_secret": {"old": None, "new": "[secret]"},
                          "expires_at": {"old": None, "new": expires_at.isoformat() if expires_at else None}})
    decision_inputs_changed()
    return token, secret


@transaction.atomic
def service_token_revoke(*, actor: User, token: ServiceToken) -> None:
    require_role(actor, ADMINS, "revoke service tokens")
    token = ServiceToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at:
        return
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    ended = AccessSession.objects.filter(service_token=token, revoked_at__isnull=True).update(
        revoked_at=token.revoked_at, revoked_reason="service token revoked"
    )
    audit_record(actor=actor, action="access.service_token.revoked", obj=token, changes={"sessions_ended": ended})
    decision_inputs_changed()


def api_token_hash(secret: str) -> str:
    return decisions.service_token_hash(secret)


@transaction.atomic
def api_token_create(*, actor: User, name: str, scopes: Sequence[str]) -> tuple[ApiToken, str]:
    require_role(actor, ADMINS, "create API tokens")
    name = clean_name(name, limit=None)
    require_free_name(ApiToken.objects, name, f"An API token named {name} already exists.")
    unknown = [s for s in scopes if s not in ApiToken.Scope.values]
    if unknown or not scopes:
        raise ValidationFailed("Pick at least one known scope.", field="scopes")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name, prefix=prefix, secret_hash=api_token_hash(secret), scopes=sorted(set(scopes)),
        created_by_email=actor.email,
    )
    audit_record(actor=actor, action="api_token.created", obj=token,
                 changes={"name": {"old": None, "new": name}, "scopes": {"old": None, "new": token.scopes}})
    decision_inputs_changed()
    return token, f"ztc_{prefix}_{secret}"


@transaction.atomic
def api_token_revoke(*, actor: User, token: ApiToken) -> None:
    require_role(actor, ADMINS, "revoke API tokens")
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at:
        return
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="api_token.revoked", obj=token)
    decision_inputs_changed()


# --- Devices ----------------------------------------------------------------------------------

DEVICE_FIELDS = ("device_id", "name", "os", "os_version", "managed", "disk_encrypted", "edr_score", "user")


@transaction.atomic
def device_save(
    *, actor: User, user: User, device_id: str, name: str, os: str, os_version: str = "", managed: bool = False,
    disk_encrypted: bool = False, edr_score: int | None = None, device: Device | None = None,
) -> Device:
    """Create or update (by ``device``) a registered device; re-evaluates its owner's sessions."""
    require_role(actor, ADMINS, "register devices")
    device_id, name, os = (device_id or "").strip(), (name or "").strip(), (os or "").strip()
    if not device_id:
        raise ValidationFailed("A device id is required.", field="device_id")
    if not name:
        raise ValidationFailed("A name is required.", field="name")
    if not os:
        raise ValidationFailed("An operating system is required.", field="os")
    if edr_score is not None and not 0 <= edr_score <= 100:
        raise ValidationFailed("The EDR score is a number from 0 to 100.", field="edr_score")
    clash = Device.objects.filter(device_id=device_id)
    if device is not None:
        clash = clash.exclude(pk=device.pk)
    if clash.exists():
        raise Conflict(f"A device with the id {device_id} is already registered.", field="device_id")
    target = Device() if device is None else Device.objects.select_for_update().get(pk=device.pk)
    before = snapshot(target, DEVICE_FIELDS) if device is not None else {}
    target.user, target.device_id, target.name, target.os = user, device_id, name, os
    target.os_version, target.managed = (os_version or "").strip(), managed
    target.disk_encrypted, target.edr_score = disk_encrypted, edr_score
    changes = diff(before, snapshot(target, DEVICE_FIELDS))
    if not changes:
        return target
    target.save()
    audit_record(actor=actor, action="access.device.updated" if device else "access.device.registered",
                 obj=target, changes=changes)
    decision_inputs_changed()
    transaction.on_commit(lambda: user_facts_changed(user_id=user.pk, reason="device posture changed"))
    return target


@transaction.atomic
def device_delete(*, actor: User, device: Device) -> None:
    require_role(actor, ADMINS, "remove devices")
    audit_record(actor=actor, action="access.device.removed", obj=device,
                 changes={"device_id": {"old": device.device_id, "new": None}})
    user_id = device.user_id
    device.delete()
    decision_inputs_changed()
    transaction.on_commit(lambda: user_facts_changed(user_id=user_id, reason="device removed"))


# --- Sessions ---------------------------------------------------------------------------------


def _revoke(queryset, *, reason: str, initiating_entity: str = "admin") -> int:
    """Revoke in the database and mark the sessions revoked in the shared cache, which every
    process checks at the next decision. The marks are written at once: should the transaction
    roll back, the worst outcome is a person asked to sign in again, never a revoked session
    that still works. They are written again after the commit, in case Redis lost its data and
    another process rebuilt the markers from the database before this revocation committed."""
    open_sessions = list(queryset.filter(revoked_at__isnull=True).values_list("pk", "expires_at", "user_id"))
    if not open_sessions:
        return 0
    count = AccessSession.objects.filter(pk__in=[pk for pk, _, _ in open_sessions], revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:200]
    )
    marks = [(pk, expires_at) for pk, expires_at, _ in open_sessions]
    hotcache.mark_revoked(marks)
    transaction.on_commit(lambda: hotcache.mark_revoked(marks))
    # Shared Signals queues one CAEP session-revoked event per person, sent after commit.
    signals.sessions_revoked.send(AccessSession, user_ids={u for _, _, u in open_sessions}, reason=reason,
                                  initiating_entity=initiating_entity)
    decision_inputs_changed()  # other processes drop the sessions they remember, within ACCESS_CACHE_SECONDS
    return count


@transaction.atomic
def session_revoke(*, actor: User, session: AccessSession) -> bool:
    require_role(actor, ADMINS, "revoke sessions")
    count = _revoke(AccessSession.objects.filter(pk=session.pk), reason=f"revoked by {actor.email}")
    if count:
        audit_record(actor=actor, action="access.session.revoked", obj=session,
                     object_repr=f"{session.user or session.service_token} → {session.application}")
    return bool(count)


@transaction.atomic
def sessions_revoke_for_user(*, actor: User, user: User) -> int:
    require_role(actor, ADMINS, "revoke sessions")
    count = _revoke(AccessSession.objects.filter(user=user), reason=f"all sessions revoked by {actor.email}")
    audit_record(actor=actor, action="access.session.revoked_for_user", obj=user,
                 changes={"sessions": count})
    return count


@transaction.atomic
def sessions_revoke_for_application(*, actor: User, application: Application) -> int:
    require_role(actor, ADMINS, "revoke sessions")
    count = _revoke(AccessSession.objects.filter(application=application),
                    reason=f"all of the application's sessions revoked by {actor.email}")
    audit_record(actor=actor, action="access.session.revoked_for_application", obj=application,
                 changes={"sessions": count})
    return count


def end_sessions_of_deactivated(user: User) -> int:
    """Called inside the deactivation's transaction: a deactivated person has no session."""
    decision_inputs_changed()
    return _revoke(AccessSession.objects.filter(user=user), reason="account deactivated")


def end_sessions_of(user: User, *, reason: str, initiating_entity: str = "user") -> int:
    """Called inside a service's transaction that audits why: every Access session of the person
    ends (an account recovery reported by its owner, "sign out everywhere")."""
    return _revoke(AccessSession.objects.filter(user=user), reason=reason, initiating_entity=initiating_entity)


def end_session(session_id: Any, *, reason: str) -> int:
    """Called inside a service's transaction that audits why: one Access session ends at its
    owner's request (signing out of one application)."""
    return _revoke(AccessSession.objects.filter(pk=session_id), reason=reason, initiating_entity="user")


def _reevaluate(sessions, *, reason: str) -> int:
    """Decide each session again as it stands; revoke the ones no longer allowed."""

    now = timezone.now()
    revoked = marked = 0
    for session in sessions:
        app = session.application
        policy_set = policies.policy_set_for(app)
        device = Device.objects.filter(device_id=session.device_id).first() if session.device_id else None
        request = decisions.request_context(
            ip=session.ip, country=session.country, device=device,
            service_token=session.service_token, now=now,
        )
        if session.user is not None:
            if not session.user.is_active:
                allowed = False
            else:
                context = facts_module.user_context(
                    session.user, identity_provider=session.identity_provider, auth_methods=session.auth_methods,
                    session=facts_module.SessionScope(session.console_session_hash),
                )
                outcome = engine.decide(policy_set.policies, context, request)
                if outcome.outcome == engine.Outcome.CHALLENGE:
                    # Still allowed once they pass the challenge: keep the session, say so.
                    what = ", ".join(c.kind.replace("_", " ") for c in outcome.challenge) or "a step-up"
                    marked += AccessSession.objects.filter(pk=session.pk, step_up_required_at__isnull=True).update(
                        step_up_required_at=now, step_up_reason=f"needs {what}: {reason}"[:200])
                    continue
                allowed = outcome.outcome == engine.Outcome.ALLOW
        else:
            token_ok = session.service_token is not None and session.service_token.is_usable
            allowed = token_ok and engine.decide(policy_set.policies, None, request).outcome == engine.Outcome.ALLOW
        if not allowed:
            revoked += _revoke(AccessSession.objects.filter(pk=session.pk), reason=f"no longer allowed: {reason}",
                               initiating_entity="policy")
    if revoked or marked:
        audit_record(actor=None, action="access.session.reevaluated", object_type="access.accesssession",
                     object_repr=reason[:255], changes={"revoked": revoked, "step_up_required": marked})
    return revoked


def _active(queryset):
    return queryset.filter(revoked_at__isnull=True, expires_at__gt=timezone.now()).select_related(
        "user", "application", "service_token"
    )


def user_facts_changed(*, user_id: int, reason: str = "the user's facts changed") -> int:
    """The hook other features call when what is known about a user changes (groups, risk,
    MFA, verification, devices): each of their active sessions is decided again and those no
    longer allowed are revoked. Returns how many were revoked."""
    return _reevaluate(_active(AccessSession.objects.filter(user_id=user_id)), reason=reason)


def reevaluate_policy_sessions(*, policy_id: int) -> int:
    apps = ApplicationPolicy.objects.filter(policy_id=policy_id).values_list("application_id", flat=True)
    return _reevaluate(_active(AccessSession.objects.filter(application_id__in=list(apps))),
                       reason="a policy changed")
