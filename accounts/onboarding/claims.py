"""Checking the claims of a validated ID token from an identity verification provider.

Pure: a mapping of claims and the provider's claim mapping in, a result that names the failed
check out. No Django, no request; views, services and tests all call ``check_claims``."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
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


# --- Who the person is (account recovery) -----------------------------------------------------

NAME = "name"
BIRTHDATE = "birthdate"
# The standard OpenID Connect claims (scope ``profile``) read for the comparison.
IDENTITY_CLAIMS = ("name", "given_name", "middle_name", "family_name", "birthdate")

# Punctuation that separates parts of a name on one document and not on another
# ("Jean-Luc" / "Jean Luc", "O'Brien" / "OBrien", "Smith, John" / "John Smith").
_SEPARATORS = str.maketrans({"-": " ", "‐": " ", "‑": " ", ",": " ", ".": " ", "_": " "})
_DROPPED = str.maketrans({"'": None, "’": None, "`": None, "´": None})


def normalize_name(value: Any) -> tuple[str, ...]:
    """A name as a sorted tuple of parts: Unicode NFKD with the combining marks dropped
    (accents), case folded, hyphens and commas as spaces, apostrophes dropped, extra spaces
    ignored. Sorting the parts accepts "New, Ada" for "Ada New"; every part must still match."""

    text = unicodedata.normalize("NFKD", str(value or ""))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.translate(_DROPPED).translate(_SEPARATORS)
    return tuple(sorted(text.split()))


def verified_name(claims: Mapping[str, Any]) -> str:
    """The OpenID Connect ``name`` claim, else ``given_name`` [``middle_name``] ``family_name``."""
    name = claims.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    parts = [claims.get(key) for key in ("given_name", "middle_name", "family_name")]
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def parse_birthdate(value: Any) -> tuple[int | None, int | None, int | None] | None:
    """An OpenID Connect ``birthdate`` (``YYYY-MM-DD``; ``0000-MM-DD`` when the year is withheld;
    ``YYYY`` alone) as (year, month, day) with None for what is withheld; None when unreadable."""

    text = str(value or "").strip()
    if re.fullmatch(r"\d{4}", text):
        return (int(text) or None, None, None)
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    try:
        date(year or 2000, month, day)  # 2000: a leap year, for 0000-02-29
    except ValueError:
        return None
    return (year or None, month, day)


def check_identity(
    claims: Mapping[str, Any], *, expected_names: Sequence[str], expected_birthdate: Any = None
) -> ClaimCheck:
    """The verified person is the account's owner: the verified name is one of
    ``expected_names`` (the directory's name, the HR case's legal name) after
    ``normalize_name``; and when the provider gives a birthdate and a date of birth is on
    record (``expected_birthdate``, a ``date``), they agree on every part the provider gave."""
    name = verified_name(claims)
    expected = [n for n in expected_names if normalize_name(n)]
    if not name:
        return ClaimCheck(
            False, NAME, "The provider released no name claim (name, or given_name and family_name), so the "
                         "verified person could not be compared with the account's owner.",
            "Your identity was verified, but the identity provider did not tell us your name, so we cannot "
            "check that this account is yours. Contact your IT team.",
        )
    if not any(normalize_name(name) == normalize_name(n) for n in expected):
        on_record = " or ".join(f"'{_clip(n)}'" for n in expected) or "nothing"
        return ClaimCheck(
            False, NAME, f"The verified name '{_clip(name)}' does not match the name on record ({on_record}).",
            "The name on the identity document you verified with does not match the name on this account, "
            "so the account was not recovered. If your name changed, ask HR to update it first; otherwise "
            "contact your IT team.",
        )
    given = claims.get("birthdate")
    if given not in (None, "") and expected_birthdate is not None:
        parsed = parse_birthdate(given)
        record = (expected_birthdate.year, expected_birthdate.month, expected_birthdate.day)
        agrees = parsed is not None and any(p is not None for p in parsed) and all(
            p is None or p == r for p, r in zip(parsed, record, strict=True))
        if not agrees:
            return ClaimCheck(
                False, BIRTHDATE,
                "The verified birthdate does not match the date of birth on the onboarding case"
                + ("" if parsed is not None else " (the birthdate claim could not be read)") + ".",
                "The date of birth on the identity document you verified with does not match our records, "
                "so the account was not recovered. Contact your IT team.",
            )
    return ClaimCheck(True)
