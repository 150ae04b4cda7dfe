"""Which MFA an Allow policy requires: policy beats application beats organization.

Each level is "respect the level above", "custom" (allowed methods, how long a verification
lasts, phishing-resistant only) or "disabled". The result is added to the policy's Require rules
as an "MFA method used" selector when policies are compiled, so the engine answers with a
step-up challenge naming the methods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.access import hotcache
from mfa.models import PHISHING_RESISTANT, Level, Method, OrganizationSettings

ALL_METHODS = (Method.SECURITY_KEY, Method.BIOMETRICS, Method.TOTP)
# "Verify again after 0 minutes" means once per sign-in: a verification counts only in the
# console session that made it (``mfa.binding``), and signing in starts a new session, so a
# requirement with no age limit asks again at every sign-in and at no other time. Signing in
# with a passkey is itself that verification.
EVERY_SIGN_IN = 0


@dataclass(frozen=True)
class Requirement:
    methods: tuple[str, ...]
    max_age_minutes: int

    def selector(self) -> dict[str, Any]:
        selector: dict[str, Any] = {"type": "mfa_method", "values": list(self.methods)}
        if self.max_age_minutes != EVERY_SIGN_IN:
            selector["max_age_minutes"] = self.max_age_minutes
        return selector


def _requirement(methods: list[str], minutes: int, phishing_resistant: bool,
                 org: OrganizationSettings) -> Requirement:
    chosen = [m for m in (methods or org.allowed_methods or ALL_METHODS) if m in ALL_METHODS]
    if phishing_resistant or org.phishing_resistant_only:
        chosen = [m for m in chosen if m in PHISHING_RESISTANT]
    if not chosen:  # nothing left: the strongest methods rather than none
        chosen = list(PHISHING_RESISTANT)
    if Method.TOTP in chosen:
        chosen.append(Method.BACKUP_CODE)  # the stand-in for a lost phone, never for a key
    ordered = tuple(m for m in (*ALL_METHODS, Method.BACKUP_CODE) if m in chosen)
    return Requirement(ordered, minutes or EVERY_SIGN_IN)


def effective(org: OrganizationSettings, application: Any, policy: Any) -> Requirement | None:
    """``application`` and ``policy`` carry mfa_mode, mfa_methods, mfa_reverify_minutes and
    mfa_phishing_resistant (the Access models)."""
    for level in (policy, application):
        mode = getattr(level, "mfa_mode", Level.RESPECT)
        if mode == Level.DISABLED:
            return None
        if mode == Level.CUSTOM:
            return _requirement(level.mfa_methods, level.mfa_reverify_minutes, level.mfa_phishing_resistant, org)
    if org.required_for_all:
        return _requirement(org.allowed_methods, org.reverify_minutes, org.phishing_resistant_only, org)
    return None


def requirement_selectors(application: Any, policy: Any) -> list[dict[str, Any]]:
    """Access compile hook: extra Require selectors for an Allow policy on an application."""
    if policy.action != "allow":
        return []

    cached = hotcache.table("mfa")
    org = cached.get("org")
    if org is None:
        org = cached["org"] = OrganizationSettings.load()
    requirement = effective(org, application, policy)
    return [requirement.selector()] if requirement else []
