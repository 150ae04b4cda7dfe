"""Checking the claims of a validated ID token from an identity verification provider.

Pure: a mapping of claims and the provider's claim mapping in, a result that names the failed
check out. No Django, no request; views, services and tests all call ``check_claims``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

# The checks, in the order they are made. Their names are what HR, the audit trail and the risk
# work see (``changes={"check": ...}``).
VERIFIED = "verified_claim"
EMAIL = "email"
LEVEL = "assurance_level"


@dataclass(frozen=True)
class ClaimMapping:
    """Where the provider puts what we need. Paths may be dotted to reach nested claims
    (``verified_claims.verification.level``)."""

    email_claim: str = "email"
    verified_claim: str = "identity_verified"
    assurance_claim: str = ""
    levels: Sequence[str] = ("low", "medium", "high")
    min_level: str = ""


@dataclass(frozen=True)
class ClaimCheck:
    ok: bool
    failed_check: str = ""
    # For HR and the audit trail: which claim and what was wrong, never the raw token.
    reason: str = ""
    # For the person: what happened and what to do next.
    user_message: str = ""
    mapped: Mapping[str, Any] = field(default_factory=dict)
    level: str = ""


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None."""
    value: Any = claims
    for part in (path or "").split("."):
        if not part or not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def is_true(value: Any) -> bool:
    """Only an explicit yes: JSON true or the text "true"."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def level_rank(value: Any, levels: Sequence[str]) -> Decimal | int | None:
    """Where ``value`` stands: as a number when it is one, else by its place in ``levels``."""
    number = _number(value)
    if number is not None and (not levels or all(_number(level) is not None for level in levels)):
        return number
    text = str(value).strip().lower() if value is not None else ""
    lowered = [level.strip().lower() for level in levels]
    return lowered.index(text) if text in lowered else None


def meets_level(value: Any, minimum: str, levels: Sequence[str]) -> bool:
    if not minimum:
        return True
    have, need = level_rank(value, levels), level_rank(minimum, levels)
    if have is None or need is None:
        return False
    return have >= need


def _clip(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_claims(
    claims: Mapping[str, Any], mapping: ClaimMapping, *, expected_email: str | None
) -> ClaimCheck:
    """Verified is true, the e-mail matches ``expected_email`` (when given), the assurance level
    meets the minimum: the first check that fails is named."""
    email = str(claim_at(claims, mapping.email_claim) or "").strip().lower()
    verified = claim_at(claims, mapping.verified_claim)
    level = claim_at(claims, mapping.assurance_claim) if mapping.assurance_claim else None
    mapped: dict[str, Any] = {mapping.email_claim: email, mapping.verified_claim: verified}
    if mapping.assurance_claim:
        mapped[mapping.assurance_claim] = level
    level_text = "" if level is None else str(level)[:64]

    if not is_true(verified):
        said = "is missing" if verified is None else f"is {_clip(verified)!s}"
        return ClaimCheck(
            False, VERIFIED, f"The {mapping.verified_claim} claim {said}: the provider did not verify the person.",
            "The identity provider could not verify your identity. Try again with a valid government ID "
            "in good light; if it keeps failing, contact your HR or IT team.",
            mapped, level_text,
        )
    expected = (expected_email or "").strip().lower()
    if expected and email != expected:
        said = f"is {email}" if email else "is missing"
        return ClaimCheck(
            False, EMAIL, f"The {mapping.email_claim} claim {said}, not the work e-mail {expected}.",
            f"You verified as {email or 'someone without an e-mail address'}, but this verification is for "
            f"{expected}. Verify again with that address, or contact your HR or IT team.",
            mapped, level_text,
        )
    if mapping.assurance_claim and not meets_level(level, mapping.min_level, mapping.levels):
        said = "is missing" if level is None else f"is {_clip(level)}"
        return ClaimCheck(
            False, LEVEL,
            f"The {mapping.assurance_claim} claim {said}; the minimum accepted is {mapping.min_level}.",
            "Your verification did not reach the level of assurance your organization requires. "
            "Try again with a government ID (passport or ID card); if it keeps failing, contact your HR or IT "
            "team.",
            mapped, level_text,
        )
    return ClaimCheck(True, mapped=mapped, level=level_text)
