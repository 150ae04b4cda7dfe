"""The policy rule editor's rows turned into the selector configuration the engine compiles:
which selectors exist, what each needs, and the checks a row must pass (names of groups, service
tokens and identity providers that exist; values the engine accepts). Forms only call it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accounts.models import Group, IdentityProvider
from console.access import engine
from console.access.models import ServiceToken
from console.core import policy
from console.core.errors import ValidationFailed

SELECTOR_LABELS = {
    "everyone": "Everyone",
    "email": "E-mails",
    "email_domain": "E-mails ending in",
    "group": "Groups",
    "identity_provider": "Login method (identity provider)",
    "oidc_claim": "OIDC claim",
    "country": "Country",
    "ip_range": "IP ranges",
    "device_posture": "Device posture",
    "service_token": "Service token",
    "any_service_token": "Any valid service token",
    "auth_method": "Authentication method (AMR)",
    "mfa_method": "MFA method used",
    "identity_verified": "Identity verified",
    "risk_score": "User risk score",
}
VALUE_HELP = {
    "email": "One e-mail address per line.",
    "email_domain": "One domain per line, e.g. corp.example.",
    "group": "One group name per line.",
    "identity_provider": "One per line: password, or an identity provider's slug.",
    "country": "Two-letter codes, one per line, e.g. DE.",
    "ip_range": "Addresses or CIDR ranges (IPv4 or IPv6), one per line.",
    "service_token": "Service token names, one per line.",
    "auth_method": "AMR values, one per line, e.g. mfa, hwk, pwd.",
    "mfa_method": "One per line: " + ", ".join(engine.MFA_METHODS) + ".",
    "risk_score": "One per line: " + ", ".join(engine.RISK_LEVELS) + ".",
}
USES_VALUES = frozenset(VALUE_HELP)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


def _group_ids(values: list[str]) -> list[int]:
    found = {g.name.lower(): g for g in Group.objects.filter(name__in=values)}
    by_lower = {g.name.lower(): g for g in Group.objects.all()} if len(found) < len(values) else found
    missing = [v for v in values if v.lower() not in by_lower]
    if missing:
        raise ValidationFailed(f"Unknown group(s): {', '.join(missing)}.")
    return [by_lower[v.lower()].pk for v in values]


def _service_token_ids(values: list[str]) -> list[str]:
    tokens = {t.name.lower(): t for t in ServiceToken.objects.all()}
    missing = [v for v in values if v.lower() not in tokens]
    if missing:
        raise ValidationFailed(f"Unknown service token(s): {', '.join(missing)}.")
    return [str(tokens[v.lower()].pk) for v in values]


def _login_methods(values: list[str]) -> list[str]:
    known = {"password", "passkey"} | set(IdentityProvider.objects.values_list("slug", flat=True))
    unknown = [v for v in values if v.lower() not in known]
    if unknown:
        raise ValidationFailed(f"Unknown login method(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
    return values


_VALUE_RESOLVERS = {"group": _group_ids, "service_token": _service_token_ids, "identity_provider": _login_methods}


def _os_versions(text: str) -> dict[str, str]:
    versions = {}
    for line in (text or "").splitlines():
        if line.strip():
            name, _, version = line.strip().rpartition(" ")
            if not name or not version:
                raise ValidationFailed(f'Write "{line.strip()}" as an OS and a version, e.g. "macOS 14.2".')
            versions[name.strip()] = version
    return versions


def _device_posture(data: Mapping[str, Any], config: dict[str, Any]) -> None:
    config.update(policy.posture_config(data))
    versions = _os_versions(data.get("min_os_version") or "")
    if versions:
        config["min_os_version"] = versions


def selector_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """The selector configuration for one editor row (``type``, ``values``, ``claim_name``,
    ``claim_value``, ``max_age``, the device-posture fields); ``ValidationFailed`` saying what is
    wrong with it."""
    kind = data["type"]
    config: dict[str, Any] = {"type": kind}
    values = _lines(data.get("values", ""))
    if kind in USES_VALUES:
        if not values:
            raise ValidationFailed(f"{SELECTOR_LABELS[kind]}: enter at least one value.")
        resolve = _VALUE_RESOLVERS.get(kind)
        config["values"] = resolve(values) if resolve else values
    if kind == "oidc_claim":
        config["name"], config["value"] = data.get("claim_name", ""), data.get("claim_value", "")
    if kind == "mfa_method" and data.get("max_age"):
        config["max_age_minutes"] = data["max_age"]
    if kind == "identity_verified" and data.get("max_age"):
        config["max_age_days"] = data["max_age"]
    if kind == "device_posture":
        _device_posture(data, config)
    try:
        engine.compile_selector(config)
    except engine.SelectorError as exc:
        raise ValidationFailed(f"{SELECTOR_LABELS[kind]}: {exc}") from None
    return config
