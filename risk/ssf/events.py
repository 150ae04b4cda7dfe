"""Event types, subject identifiers and the claims of each Security Event Token, as plain
functions with no database access."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from console.core.errors import ValidationFailed

USER_RISK_CHANGE = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change"
RISK_LEVEL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/risk-level-change"
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CREDENTIAL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
STREAM_UPDATED = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"

# What receivers can request; verification and stream-updated go out on every stream.
SUPPORTED = (USER_RISK_CHANGE, RISK_LEVEL_CHANGE, SESSION_REVOKED, CREDENTIAL_CHANGE)
# A stream created without ``events_requested``: one risk event per change (Okta's, which Okta
# and most deployed receivers read); CAEP receivers ask for risk-level-change by name.
DEFAULT_REQUESTED = (USER_RISK_CHANGE, SESSION_REVOKED, CREDENTIAL_CHANGE)
LABELS = {
    USER_RISK_CHANGE: "User risk change",
    RISK_LEVEL_CHANGE: "Risk level change (CAEP)",
    SESSION_REVOKED: "Session revoked",
    CREDENTIAL_CHANGE: "Credential change",
    VERIFICATION: "Verification",
    STREAM_UPDATED: "Stream updated",
}

INITIATING_ENTITIES = ("admin", "user", "policy", "system")
CREDENTIAL_TYPES = ("password", "pin", "x509", "fido2-platform", "fido2-roaming", "fido-u2f",
                    "verifiable-credential", "phone-voice", "phone-sms", "app")
CHANGE_TYPES = ("create", "revoke", "update", "delete")
# Our levels → the user-risk-change levels. The receiver knows only low, medium and high; a
# person with no score (never scored, or reset) is reported as low, which is also where a
# receiver such as Okta puts a person whose risk was cleared.
LEVELS = {"low": "low", "medium": "medium", "high": "high", "unscored": "low"}
# CAEP 1.0 risk-level-change: LOW, MEDIUM or HIGH. An unscored person is LOW now; as the level
# before a change, "unscored" is left out, which CAEP reads as "unknown to the transmitter".
CAEP_LEVELS = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH", "unscored": "LOW"}
SUBJECT_FORMATS = ("email", "iss_sub", "opaque")
# Every subject identifier format of RFC 9493 and SSF 1.0 §3; those we cannot match a person by
# are answered "not recognized" (404) by the subject endpoints, as SSF 1.0 §8.1.3 allows.
KNOWN_FORMATS = ("account", "email", "iss_sub", "opaque", "phone_number", "did", "uri", "aliases", "jwt_id",
                 "saml_assertion_id", "ip_addresses")
# How the ``subject`` member inside an event body is written (the top-level ``sub_id`` is always a
# simple subject). SSF 1.0 §3: a complex subject carries ``"format": "complex"``. Okta's receiver
# reads the older shape, ``{"user": {...}}`` without a format.
SHAPE_SSF = "ssf"
SHAPE_OKTA = "okta"


class SubjectNotRecognized(ValidationFailed):
    """A well-formed subject in a format we cannot match anyone by (SSF 1.0 §8.1.3: 404)."""


def label(event_type: str) -> str:
    return LABELS.get(event_type, event_type.rsplit("/", 1)[-1])


def _timestamp(at: datetime) -> int:
    return int(at.timestamp())


def _text(value: str, field: str, *, required: bool = False, limit: int = 500) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(f"{field} is required.", field=field)
    if len(value) > limit:
        raise ValidationFailed(f"{field} is longer than {limit} characters.", field=field)
    return value


def _choice(value: str, field: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValidationFailed(f"{field} must be one of {', '.join(allowed)}, not {value!r}.", field=field)
    return value


def _reasons(reason_admin: str, reason_user: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if reason_admin:
        body["reason_admin"] = {"en": reason_admin}
    if reason_user:
        body["reason_user"] = {"en": reason_user}
    return body


# --- Subjects ----------------------------------------------------------------------------------


def user_subject(*, email: str, user_id: int, issuer: str, subject_format: str) -> dict[str, str]:
    """A simple subject identifier for a person, in the stream's chosen format."""
    if subject_format == "iss_sub":
        return {"format": "iss_sub", "iss": issuer, "sub": str(user_id)}
    if subject_format == "opaque":
        return {"format": "opaque", "id": str(user_id)}
    return {"format": "email", "email": email}


def event_subject(subject: dict[str, str], shape: str) -> dict[str, Any]:
    """The ``subject`` member of an event body: an SSF 1.0 complex subject, or Okta's older shape."""
    if shape == SHAPE_OKTA:
        return {"user": subject}
    return {"format": "complex", "user": subject}


def user_keys(*, email: str, user_id: int, issuer: str) -> set[str]:
    """Every canonical key a receiver could have used to name this person."""
    return {f"email:{email.strip().lower()}", f"iss_sub:{issuer}|{user_id}", f"opaque:{user_id}"}


def subject_key(subject: Any, *, field: str = "subject") -> str:
    """The canonical key of a subject a receiver sent; raises ``ValidationFailed`` naming the
    member at fault. Complex subjects are matched on their ``user`` member (SSF 1.0 §7.1.3.1:
    a member one side leaves out matches anything), so one without a user matches everyone."""
    if not isinstance(subject, Mapping):
        raise ValidationFailed(f"{field} must be an object.", field=field)
    fmt = subject.get("format")
    if fmt == "complex":
        unknown_members = [k for k, v in subject.items() if k != "format" and not isinstance(v, Mapping)]
        if unknown_members:
            raise ValidationFailed(f"{field}.{unknown_members[0]} must be a subject object.",
                                   field=f"{field}.{unknown_members[0]}")
        if "user" not in subject:
            return "complex:*"
        return subject_key(subject["user"], field=f"{field}.user")
    if fmt == "email":
        email = subject.get("email")
        if not isinstance(email, str) or "@" not in email or len(email) > 254:
            raise ValidationFailed(f"{field}.email must be an e-mail address.", field=f"{field}.email")
        return f"email:{email.strip().lower()}"
    if fmt == "iss_sub":
        iss, sub = subject.get("iss"), subject.get("sub")
        if not isinstance(iss, str) or not iss or len(iss) > 300:
            raise ValidationFailed(f"{field}.iss must be the issuer's URL.", field=f"{field}.iss")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise ValidationFailed(f"{field}.sub must be a non-empty string.", field=f"{field}.sub")
        return f"iss_sub:{iss}|{sub}"
    if fmt == "opaque":
        ident = subject.get("id")
        if not isinstance(ident, str) or not ident or len(ident) > 255:
            raise ValidationFailed(f"{field}.id must be a non-empty string.", field=f"{field}.id")
        return f"opaque:{ident}"
    if isinstance(fmt, str) and fmt:
        raise SubjectNotRecognized(
            f"{field}.format {fmt!r} is not recognized by this transmitter: people are matched by email, iss_sub, "
            "opaque, or a complex subject whose user member is one of those.", field=f"{field}.format")
    raise ValidationFailed(f"{field}.format is required (email, iss_sub, opaque or complex).", field=f"{field}.format")


# --- Events ------------------------------------------------------------------------------------


def user_risk_change(*, previous: str, current: str, initiating_entity: str, reason_admin: str,
                     reason_user: str, at: datetime, subject: dict, shape: str = SHAPE_SSF) -> dict[str, Any]:
    """Okta's user-risk-change event: levels low/medium/high, a UNIX ``event_timestamp``, the
    person in ``subject.user`` and at least one reason."""
    for field, value in (("previous", previous), ("current", current)):
        _choice(value, field, tuple(LEVELS))
    return {
        "subject": event_subject(subject, shape),
        "current_level": LEVELS[current],
        "previous_level": LEVELS[previous],
        "initiating_entity": _choice(initiating_entity, "initiating_entity", INITIATING_ENTITIES),
        "event_timestamp": _timestamp(at),
        **_reasons(_text(reason_admin, "reason_admin", required=True), _text(reason_user, "reason_user")),
    }


def risk_level_change(*, previous: str, current: str, initiating_entity: str, reason_admin: str,
                      at: datetime) -> dict[str, Any]:
    """CAEP 1.0 risk-level-change: ``principal`` USER, ``current_level`` LOW/MEDIUM/HIGH,
    ``previous_level`` unless the person had no score, the reason as ``risk_reason``. A new
    CAEP event type: the person is only in the top-level ``sub_id`` (SSF 1.0 §3.1.2), never in a
    ``subject`` member."""
    for field, value in (("previous", previous), ("current", current)):
        _choice(value, field, tuple(CAEP_LEVELS))
    reason = _text(reason_admin, "reason_admin", required=True)
    body: dict[str, Any] = {"principal": "USER", "current_level": CAEP_LEVELS[current]}
    if previous != "unscored":
        body["previous_level"] = CAEP_LEVELS[previous]
    return body | {
        "risk_reason": reason,
        "initiating_entity": _choice(initiating_entity, "initiating_entity", INITIATING_ENTITIES),
        "event_timestamp": _timestamp(at),
        **_reasons(reason, ""),
    }


def session_revoked(*, reason: str, initiating_entity: str, at: datetime, subject: dict,
                    shape: str = SHAPE_SSF) -> dict[str, Any]:
    """CAEP 1.0 session-revoked. The subject also sits in the event, as CAEP's existing event
    types allow and receivers such as Okta read."""
    return {
        "subject": event_subject(subject, shape),
        "initiating_entity": _choice(initiating_entity, "initiating_entity", INITIATING_ENTITIES),
        "event_timestamp": _timestamp(at),
        **_reasons(_text(reason, "reason", required=True), ""),
    }


CHANGE_WORDS = {"create": "enrolled", "revoke": "revoked", "update": "updated", "delete": "removed"}


def credential_change(*, credential_type: str, change_type: str, friendly_name: str, initiating_entity: str,
                      at: datetime, subject: dict, reason_admin: str = "", shape: str = SHAPE_SSF) -> dict[str, Any]:
    """CAEP 1.0 credential-change. The CAEP interoperability profile requires a non-empty
    ``reason_admin``: without one given, it says what changed ("fido2-roaming credential
    “Blue key” enrolled by the user")."""
    body: dict[str, Any] = {
        "subject": event_subject(subject, shape),
        "credential_type": _choice(credential_type, "credential_type", CREDENTIAL_TYPES),
        "change_type": _choice(change_type, "change_type", CHANGE_TYPES),
        "initiating_entity": _choice(initiating_entity, "initiating_entity", INITIATING_ENTITIES),
        "event_timestamp": _timestamp(at),
    }
    name = _text(friendly_name, "friendly_name", limit=200)
    if name:
        body["friendly_name"] = name
    reason = _text(reason_admin, "reason_admin") or (
        f"{credential_type} credential{f' “{name}”' if name else ''} {CHANGE_WORDS[change_type]} "
        f"by {'the user' if initiating_entity == 'user' else f'the {initiating_entity}'}")
    return body | _reasons(reason, "")


def set_claims(*, jti: str, issuer: str, audience: list[str], issued_at: datetime, event_type: str,
               event: dict[str, Any], sub_id: dict[str, Any], txn: str = "") -> dict[str, Any]:
    """The claims of one SET (RFC 8417 profiled by SSF 1.0): no ``sub`` and no ``exp``, the
    subject in the top-level ``sub_id``, exactly one event."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience[0] if len(audience) == 1 else list(audience),
        "jti": jti,
        "iat": _timestamp(issued_at),
        "sub_id": sub_id,
        "events": {event_type: event},
    }
    if txn:
        claims["txn"] = txn
    return claims
