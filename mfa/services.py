"""Enrolling, verifying and removing authenticators. Every verification attempt is rate
limited per person and per address; failures, lockouts, enrolments and removals are audited.

The services for a person's own authenticators take a ``BrowserSession``: who, the console
session's data, the client address and the origin, never the HTTP request (views build it with
``mfa.console.browser_session``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.oath import TOTP
from fido2.webauthn import AttestedCredentialData, AuthenticationResponse

from accounts.models import User
from accounts.services.rights import check_rank
from console.access.services import decision_inputs_changed
from console.audit.services import audit_record, diff, snapshot
from console.core import ratelimit
from console.core.errors import Conflict, PermissionRefused, ValidationFailed, VerificationRequired
from console.core.permissions import require_role
from console.core.roles import ADMINS
from mfa import binding, selectors, signals, webauthn
from mfa.models import BackupCode, Method, OrganizationSettings, TotpAuthenticator, Verification, WebAuthnAuthenticator

RECENT_KEY = "mfa_verified_at"
BACKUP_CODE_COUNT = 10


class RateLimited(PermissionRefused):
    """Too many verification attempts."""


@dataclass(frozen=True)
class BrowserSession:
    """What the MFA services need of one browser's visit: the person (``user``), the console
    session's data (``session``: pending enrolments, WebAuthn challenges, the binding secret and
    the verified mark are kept there), the client address for rate limits (``ip``) and the
    origin the page was served from (``origin``, ``https://host[:port]``) for WebAuthn."""

    user: User
    session: MutableMapping[str, Any]
    ip: str | None = None
    origin: str = ""


def _credential_changed(user: User, device, change_type: str, initiating_entity: str) -> None:
    signals.credential_changed.send(type(device), user=user, method=device.method, change_type=change_type,
                                    name=device.name, initiating_entity=initiating_entity)


def wait_words(seconds: float) -> str:
    """A wait as people say it: "12 seconds", "1 minute", "4 minutes" (rounded up)."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def _limit(browser: BrowserSession) -> None:
    user = browser.user
    limits = (("mfa-user", str(user.pk), settings.MFA_ATTEMPTS_PER_USER),
              ("mfa-ip", browser.ip or "unknown", settings.MFA_ATTEMPTS_PER_IP))
    refused = [(scope, key, limit) for scope, key, limit in limits
               if not ratelimit.hit(scope, key, limit=limit, window=settings.MFA_ATTEMPT_WINDOW)]
    if refused:
        audit_record(actor=user, action="mfa.locked_out", obj=user,
                     changes={"by": "person" if refused[0][0] == "mfa-user" else "address"})
        wait = max(ratelimit.retry_after(scope, key, limit=limit, window=settings.MFA_ATTEMPT_WINDOW)
                   for scope, key, limit in refused)
        raise RateLimited(f"Too many verification attempts: try again in {wait_words(wait)}.")


def attempt_limit(browser: BrowserSession) -> None:
    """Count one verification attempt for ``browser``'s person and address; raises
    ``RateLimited`` (and audits the lockout) past either ceiling."""
    _limit(browser)


def verification_record(
    *, session: MutableMapping[str, Any], user: User, method: str, authenticator: str,
) -> Verification:
    """A successful verification in the console session ``session``: recorded for Access, bound
    to this session only (``mfa.binding``), and marked in the session, which passes console MFA
    and opens the re-verify windows. Access reads verifications when a decision asks about MFA,
    so no cache needs clearing: a verification only ever allows more."""
    verification = Verification.objects.create(
        user=user, method=method, authenticator=authenticator[:120], session_hash=binding.session_hash(session),
    )
    session[RECENT_KEY] = verification.at.timestamp()
    return verification


def _verified(browser: BrowserSession, method: str, authenticator: str) -> Verification:
    return verification_record(session=browser.session, user=browser.user, method=method, authenticator=authenticator)


def recently_verified(session: Mapping[str, Any], seconds: int | None = None) -> bool:
    """A verification within the last ``seconds`` (default ``MFA_RECENT_SECONDS``, ten minutes)
    in this console session (needed to add or remove authenticators once one exists, and for
    the console's sensitive actions)."""
    at = session.get(RECENT_KEY)
    window = settings.MFA_RECENT_SECONDS if seconds is None else seconds
    return isinstance(at, int | float) and 0 <= timezone.now().timestamp() - at <= window


def session_verified(session: Mapping[str, Any]) -> bool:
    """Whether this console session has passed MFA since sign-in (signing out or in as someone
    else flushes the session, and the mark with it)."""
    return isinstance(session.get(RECENT_KEY), int | float)


def _require_fresh_mfa(browser: BrowserSession) -> None:
    if selectors.authenticators_of(browser.user) and not recently_verified(browser.session):
        raise VerificationRequired("Verify with one of your authenticators first.")


# --- TOTP -------------------------------------------------------------------------------------


def totp_begin(browser: BrowserSession) -> str:
    """A new secret kept in the session until the first code confirms it."""
    user = browser.user
    if TotpAuthenticator.objects.filter(user=user).exists():
        raise Conflict("You already have an authenticator app. Remove it first to set up another.")
    _require_fresh_mfa(browser)
    secret = browser.session.get("totp_pending") or secrets.token_hex(20)
    browser.session["totp_pending"] = secret
    return secret


def totp_confirm(browser: BrowserSession, *, code: str, name: str) -> TotpAuthenticator:
    """Failures are audited outside any transaction, so that refusing does not erase the record."""
    user = browser.user
    secret = browser.session.get("totp_pending")
    if not secret:
        raise ValidationFailed("Start the setup again: no pending authenticator app.")
    _require_fresh_mfa(browser)
    _limit(browser)
    device = TotpAuthenticator(user=user, name=(name or "Authenticator app").strip()[:64], key=secret)
    device.throttling_failure_count = 0
    # Check the first code before saving anything.
    totp = TOTP(bytes.fromhex(secret), step=30, t0=0, digits=6)
    totp.time = timezone.now().timestamp()
    code = (code or "").strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6 and totp.verify(int(code), tolerance=1)):
        audit_record(actor=user, action="mfa.enrollment_failed", obj=user, changes={"method": Method.TOTP})
        raise ValidationFailed("That code does not match. Check the time on your phone and try the next code.",
                               field="code")
    device.last_t = totp.t()
    with transaction.atomic():
        device.save()
        audit_record(actor=user, action="mfa.enrolled", obj=user,
                     changes={"method": Method.TOTP, "name": device.name})
        _credential_changed(user, device, "create", "user")
        _verified(browser, Method.TOTP, device.name)
    browser.session.pop("totp_pending", None)
    return device


def verify_totp(browser: BrowserSession, *, code: str) -> bool:
    user = browser.user
    _limit(browser)
    device = TotpAuthenticator.objects.filter(user=user, confirmed=True).first()
    if device is None:
        raise ValidationFailed("You have no authenticator app.")
    allowed, detail = device.verify_is_allowed()
    if not allowed:
        audit_record(actor=user, action="mfa.throttled", obj=user, changes={"method": Method.TOTP})
        wait = ((detail or {}).get("locked_until", timezone.now()) - timezone.now()).total_seconds()
        raise RateLimited(f"Too many wrong codes in a row: try again in {wait_words(wait)}.")
    with transaction.atomic():
        if device.verify_token(code):
            _verified(browser, Method.TOTP, device.name)
            return True
    audit_record(actor=user, action="mfa.failed", obj=user, changes={"method": Method.TOTP})
    return False


# --- Backup codes -----------------------------------------------------------------------------


def _hash_code(code: str) -> str:
    return hashlib.sha256(f"{settings.SECRET_KEY}:{code}".encode()).hexdigest()


@transaction.atomic
def backup_codes_generate(browser: BrowserSession) -> list[str]:
    """New codes replace old ones; shown once."""
    user = browser.user
    _require_fresh_mfa(browser)
    if not selectors.authenticators_of(user):
        raise Conflict("Enroll an authenticator first; backup codes stand in for it when it is lost.")
    BackupCode.objects.filter(user=user).delete()
    codes = [f"{secrets.randbelow(10**10):010d}" for _ in range(BACKUP_CODE_COUNT)]
    BackupCode.objects.bulk_create([BackupCode(user=user, code_hash=_hash_code(c)) for c in codes])
    audit_record(actor=user, action="mfa.backup_codes_generated", obj=user, changes={"count": len(codes)})
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def verify_backup_code(browser: BrowserSession, *, code: str) -> bool:
    user = browser.user
    _limit(browser)
    digest = _hash_code((code or "").replace("-", "").replace(" ", "").strip())
    with transaction.atomic():
        for candidate in BackupCode.objects.select_for_update().filter(user=user, used_at__isnull=True):
            if hmac.compare_digest(candidate.code_hash, digest):
                candidate.used_at = timezone.now()
                candidate.save(update_fields=["used_at"])
                audit_record(actor=user, action="mfa.backup_code_used", obj=user,
                             changes={"left": selectors.unused_backup_codes(user)})
                _verified(browser, Method.BACKUP_CODE, "backup code")
                return True
    audit_record(actor=user, action="mfa.failed", obj=user, changes={"method": Method.BACKUP_CODE})
    return False


# --- WebAuthn ---------------------------------------------------------------------------------


def _aaguid_allowed(aaguid: str) -> bool:
    """Checked at enrollment only; the console's setting wins over the environment's."""

    configured = OrganizationSettings.load().allowed_aaguids or settings.MFA_ALLOWED_AAGUIDS
    allowed = {a.replace("-", "").lower() for a in configured}
    return not allowed or aaguid.replace("-", "").lower() in allowed


def webauthn_register_begin(browser: BrowserSession, *, kind: str) -> dict:
    if kind not in (Method.SECURITY_KEY, Method.BIOMETRICS):
        raise ValidationFailed("Unknown kind of authenticator.")
    _require_fresh_mfa(browser)
    existing = [bytes(d.credential_data) for d in WebAuthnAuthenticator.objects.filter(user=browser.user)]
    return webauthn.registration_options(browser.session, origin=browser.origin, user=browser.user, kind=kind,
                                         existing=existing)


def webauthn_register_complete(
    browser: BrowserSession, *, kind: str, response: dict, name: str
) -> WebAuthnAuthenticator:
    """Refusals are audited outside any transaction, so that refusing does not erase the record."""
    user = browser.user
    _require_fresh_mfa(browser)
    state = webauthn.take_state(browser.session, f"register:{kind}")
    try:
        auth_data = webauthn.server(browser.origin).register_complete(state, response)
    except (ValueError, KeyError, TypeError) as exc:
        audit_record(actor=user, action="mfa.enrollment_failed", obj=user, changes={"method": kind, "reason": str(exc)})
        raise ValidationFailed(f"The authenticator's answer was refused: {exc}")
    credential = auth_data.credential_data
    aaguid = str(credential.aaguid)
    if not _aaguid_allowed(aaguid):
        audit_record(actor=user, action="mfa.enrollment_refused", obj=user, changes={"aaguid": aaguid})
        raise ValidationFailed("This model of authenticator is not allowed by your organization.")
    if kind == Method.BIOMETRICS and not auth_data.is_user_verified():
        audit_record(actor=user, action="mfa.enrollment_failed", obj=user,
                     changes={"method": kind, "reason": "no user verification"})
        raise ValidationFailed("Biometrics must verify you (fingerprint, face or PIN).")
    if WebAuthnAuthenticator.objects.filter(credential_id=credential.credential_id).exists():
        raise Conflict("This authenticator is already enrolled.")
    with transaction.atomic():
        device = WebAuthnAuthenticator.objects.create(
            user=user, name=(name or dict(WebAuthnAuthenticator._meta.get_field("kind").choices)[kind]).strip()[:64],
            kind=kind, credential_id=credential.credential_id, credential_data=bytes(credential),
            aaguid=aaguid, sign_count=auth_data.counter, user_verified=auth_data.is_user_verified(),
        )
        audit_record(actor=user, action="mfa.enrolled", obj=user,
                     changes={"method": kind, "name": device.name, "aaguid": aaguid})
        _credential_changed(user, device, "create", "user")
        _verified(browser, kind, device.name)
    return device


def webauthn_authenticate_begin(browser: BrowserSession, *, methods: list[str]) -> dict:
    devices = WebAuthnAuthenticator.objects.filter(user=browser.user, kind__in=methods, confirmed=True)
    if not devices:
        raise ValidationFailed("You have no security key or biometric authenticator for this.")
    require_uv = all(d.kind == Method.BIOMETRICS for d in devices)
    return webauthn.authentication_options(browser.session, origin=browser.origin,
                                           credentials=[bytes(d.credential_data) for d in devices],
                                           require_uv=require_uv)


def webauthn_authenticate_complete(browser: BrowserSession, *, response: dict) -> WebAuthnAuthenticator:
    user = browser.user
    _limit(browser)
    state = webauthn.take_state(browser.session, "authenticate")
    devices = list(WebAuthnAuthenticator.objects.filter(user=user, confirmed=True))
    credentials = [AttestedCredentialData(bytes(d.credential_data)) for d in devices]
    try:
        used = webauthn.server(browser.origin).authenticate_complete(state, credentials, response)
    except (ValueError, KeyError, TypeError) as exc:
        audit_record(actor=user, action="mfa.failed", obj=user, changes={"method": "webauthn", "reason": str(exc)})
        raise ValidationFailed(f"The authenticator's answer was refused: {exc}")
    device = next(d for d in devices if bytes(d.credential_id) == used.credential_id)
    counter = AuthenticationResponse.from_dict(response).response.authenticator_data.counter
    return webauthn_counter_accept(browser, device=device, counter=counter)


def webauthn_counter_accept(
    browser: BrowserSession, *, device: WebAuthnAuthenticator, counter: int,
    before_verified: Callable[[], None] | None = None,
) -> WebAuthnAuthenticator:
    """After a valid WebAuthn signature: refuse a key whose signature counter did not increase
    (a possible clone: blocked, audited, committed before refusing), else store the counter and
    record the verification in ``browser``'s session. ``before_verified`` runs in the same
    transaction just before the verification is recorded (a passkey sign-in signs in there)."""
    user = browser.user
    blocked = False
    with transaction.atomic():
        device = WebAuthnAuthenticator.objects.select_for_update().get(pk=device.pk)
        went_back = counter <= device.sign_count and not (counter == 0 and device.sign_count == 0)
        if device.suspected_clone_at or went_back:
            # Recorded and committed before refusing: the block must outlast this request.
            blocked = True
            if not device.suspected_clone_at:
                device.suspected_clone_at = timezone.now()
                device.save(update_fields=["suspected_clone_at"])
            audit_record(actor=user, action="mfa.clone_suspected", obj=user,
                         changes={"authenticator": device.name, "stored_counter": device.sign_count,
                                  "presented_counter": counter})
        else:
            device.sign_count = counter
            device.set_last_used_timestamp(commit=False)
            device.save(update_fields=["sign_count", "last_used_at"])
            if before_verified is not None:
                before_verified()
            _verified(browser, device.kind, device.name)
    if blocked:
        raise PermissionRefused(
            "This authenticator may have been copied: its counter went backwards. It is blocked; "
            "ask your IT team."
        )
    return device


# --- Management -------------------------------------------------------------------------------


def _find(user: User, persistent_id: str):
    for device in selectors.authenticators_of(user):
        if device.persistent_id == persistent_id:
            return device
    raise ValidationFailed("No such authenticator.")


@transaction.atomic
def authenticator_rename(browser: BrowserSession, *, persistent_id: str, name: str) -> None:
    device = _find(browser.user, persistent_id)
    name = (name or "").strip()[:64]
    if not name:
        raise ValidationFailed("Give the authenticator a name.", field="name")
    old, device.name = device.name, name
    device.save(update_fields=["name"])
    audit_record(actor=browser.user, action="mfa.renamed", obj=browser.user,
                 changes={"name": {"old": old, "new": name}})


@transaction.atomic
def authenticator_remove(browser: BrowserSession, *, persistent_id: str) -> None:
    user = browser.user
    if not recently_verified(browser.session):
        raise VerificationRequired("Verify with one of your authenticators first.")
    device = _find(user, persistent_id)
    device.delete()
    audit_record(actor=user, action="mfa.removed", obj=user, changes={"method": device.method, "name": device.name})
    _credential_changed(user, device, "delete", "user")


@transaction.atomic
def admin_revoke(*, actor: User, user: User, persistent_id: str | None = None) -> int:
    """An admin removes one or all of a person's authenticators (lost device, leaver)."""
    require_role(actor, ADMINS, "remove someone's authenticators")

    check_rank(actor, target_role=user.role, what="remove the authenticators of")
    devices = selectors.authenticators_of(user)
    if persistent_id:
        devices = [d for d in devices if d.persistent_id == persistent_id]
    for device in devices:
        device.delete()
        _credential_changed(user, device, "revoke", "admin")
    if persistent_id is None:
        BackupCode.objects.filter(user=user).delete()
    audit_record(actor=actor, action="mfa.revoked_by_admin", obj=user,
                 changes={"removed": [f"{d.method}: {d.name}" for d in devices]})
    return len(devices)


def recent_window() -> timedelta:
    return timedelta(seconds=settings.MFA_RECENT_SECONDS)


ORG_FIELDS = ("required_for_all", "allowed_methods", "reverify_minutes", "phishing_resistant_only", "allowed_aaguids")


@transaction.atomic
def org_settings_update(
    *, actor: User, required_for_all: bool, allowed_methods: list[str], reverify_minutes: int,
    phishing_resistant_only: bool, allowed_aaguids: list[str],
):
    """The organization's MFA settings; every Access decision reflects them after commit."""

    require_role(actor, ADMINS, "change MFA settings")
    unknown = [m for m in allowed_methods if m not in (Method.SECURITY_KEY, Method.BIOMETRICS, Method.TOTP)]
    if unknown:
        raise ValidationFailed(f"Unknown method(s): {', '.join(unknown)}.", field="allowed_methods")
    if reverify_minutes > 43200:
        raise ValidationFailed("At most 30 days (43200 minutes).", field="reverify_minutes")
    cleaned = []
    for value in allowed_aaguids:
        compact = value.strip().replace("-", "").lower()
        if len(compact) != 32 or any(c not in "0123456789abcdef" for c in compact):
            raise ValidationFailed(f"{value!r} is not an AAGUID (32 hexadecimal digits).", field="allowed_aaguids")
        cleaned.append(compact)
    org = OrganizationSettings.load()
    org = OrganizationSettings.objects.select_for_update().get(pk=org.pk)
    before = snapshot(org, ORG_FIELDS)
    org.required_for_all, org.allowed_methods = required_for_all, sorted(set(allowed_methods))
    org.reverify_minutes, org.phishing_resistant_only = reverify_minutes, phishing_resistant_only
    org.allowed_aaguids = sorted(set(cleaned))
    changes = diff(before, snapshot(org, ORG_FIELDS))
    if not changes:
        return org
    org.save()
    audit_record(actor=actor, action="mfa.settings_updated", obj=org, changes=changes)
    decision_inputs_changed()
    return org


@transaction.atomic
def authenticators_reset(*, user: User, reason: str) -> int:
    """Remove all of a person's authenticators and backup codes because they proved who they are
    again (identity verification) after losing them; they enroll new ones next."""
    devices = selectors.authenticators_of(user)
    for device in devices:
        device.delete()
    codes, _ = BackupCode.objects.filter(user=user).delete()
    if devices or codes:
        audit_record(actor=user, action="mfa.reset_after_verification", obj=user,
                     changes={"removed": [f"{d.method}: {d.name}" for d in devices], "backup_codes": codes,
                              "reason": reason})
    return len(devices)


# --- Account recovery: suspending and restoring the old authenticators ------------------------


def _describe(device) -> str:
    return f"{device.method}: {device.name}"


@transaction.atomic
def authenticators_park(*, user: User, reason: str) -> tuple[str, list[str]]:
    """Suspend every authenticator and backup code of a person who recovered their account: they
    leave the sign-in tables (so they cannot be used, and a new authenticator app can be enrolled)
    and come back as a JSON text that ``authenticators_restore`` can put back. Returns that text
    (empty when there was nothing) and what was suspended, for people to read. The caller keeps
    the text encrypted."""

    devices = selectors.authenticators_of(user)
    codes = list(BackupCode.objects.filter(user=user))
    if not devices and not codes:
        return "", []
    rows: list[dict] = []
    for device in devices:
        row = {"name": device.name, "created_at": device.created_at.isoformat() if device.created_at else None}
        if isinstance(device, TotpAuthenticator):
            row |= {"type": "totp", "key": device.key, "last_t": device.last_t, "drift": device.drift}
        else:
            row |= {"type": "webauthn", "kind": device.kind,
                    "credential_id": base64.b64encode(bytes(device.credential_id)).decode(),
                    "credential_data": base64.b64encode(bytes(device.credential_data)).decode(),
                    "aaguid": device.aaguid, "sign_count": device.sign_count, "user_verified": device.user_verified,
                    "suspected_clone_at": device.suspected_clone_at.isoformat() if device.suspected_clone_at else None}
        rows.append(row)
        device.delete()
        _credential_changed(user, device, "revoke", "system")
    backup = [{"code_hash": c.code_hash, "created_at": c.created_at.isoformat(),
               "used_at": c.used_at.isoformat() if c.used_at else None} for c in codes]
    BackupCode.objects.filter(user=user).delete()
    names = [_describe(d) for d in devices] + ([f"{len(codes)} backup code(s)"] if codes else [])
    audit_record(actor=None, action="mfa.suspended_for_recovery", obj=user,
                 changes={"suspended": names, "reason": reason})
    return json.dumps({"devices": rows, "backup_codes": backup}), names


@transaction.atomic
def authenticators_restore(*, user: User, parked: str, reason: str) -> int:
    """Put back what ``authenticators_park`` suspended (the owner reported a recovery they did
    not make). An authenticator app enrolled since is replaced by the owner's. Returns how many
    authenticators came back."""

    if not parked:
        return 0
    data = json.loads(parked)

    def when(value: str | None):
        return datetime.fromisoformat(value) if value else None

    restored = []
    for row in data.get("devices", []):
        if row["type"] == "totp":
            TotpAuthenticator.objects.filter(user=user).delete()
            device = TotpAuthenticator.objects.create(user=user, name=row["name"], key=row["key"],
                                                      last_t=row["last_t"], drift=row["drift"], confirmed=True)
        else:
            credential_id = base64.b64decode(row["credential_id"])
            if WebAuthnAuthenticator.objects.filter(credential_id=credential_id).exists():
                continue
            device = WebAuthnAuthenticator.objects.create(
                user=user, name=row["name"], kind=row["kind"], credential_id=credential_id,
                credential_data=base64.b64decode(row["credential_data"]), aaguid=row["aaguid"],
                sign_count=row["sign_count"], user_verified=row["user_verified"],
                suspected_clone_at=when(row.get("suspected_clone_at")), confirmed=True,
            )
        if row.get("created_at"):
            type(device).objects.filter(pk=device.pk).update(created_at=when(row["created_at"]))
        restored.append(device)
        _credential_changed(user, device, "create", "system")
    codes = data.get("backup_codes", [])
    if codes:
        BackupCode.objects.filter(user=user).delete()
        BackupCode.objects.bulk_create([
            BackupCode(user=user, code_hash=c["code_hash"], created_at=when(c["created_at"]),
                       used_at=when(c["used_at"]))
            for c in codes
        ])
    audit_record(actor=None, action="mfa.restored_after_recovery_report", obj=user,
                 changes={"restored": [_describe(d) for d in restored], "backup_codes": len(codes), "reason": reason})
    return len(restored)


@transaction.atomic
def authenticators_remove_enrolled_since(*, user: User, since: datetime, reason: str) -> list[str]:
    """Remove the authenticators enrolled at or after ``since`` and the backup codes generated
    since (the ones whoever recovered the account added, when the owner says it was not them)."""
    devices = [d for d in selectors.authenticators_of(user) if d.created_at and d.created_at >= since]
    for device in devices:
        device.delete()
        _credential_changed(user, device, "revoke", "system")
    codes, _ = BackupCode.objects.filter(user=user, created_at__gte=since).delete()
    names = [_describe(d) for d in devices]
    if devices or codes:
        audit_record(actor=None, action="mfa.removed_after_recovery_report", obj=user,
                     changes={"removed": names, "backup_codes": codes, "reason": reason})
    return names
