"""Gemini licences and users → finding instances (the reference's Gemini for Workspace list)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shadow_ai.casb.connectors.base import Observation
from shadow_ai.casb.findings import FindingType, Severity

V = "Gemini"


def _t(key: str, title: str, severity: Severity, remediation: str):
    return FindingType(f"gemini.{key}", V, f"Google Workspace: {title}", severity, remediation, "User")


ADMIN_2FA = _t("admin_2fa_disabled", "Admin user with Gemini license with two-factor authentication disabled",
               Severity.HIGH, "Enroll the admin in 2-Step Verification before they use Gemini over the domain's "
               "data; enforce it for admins.")
USER_2FA = _t("user_2fa_disabled", "User with Gemini license with two-factor authentication disabled",
              Severity.MEDIUM, "Enforce 2-Step Verification for people with a Gemini licence: Gemini can read "
              "everything their account can.")
ADMIN_SUSPENDED_ULTRA = _t("admin_suspended_ultra", "Admin user suspended with AI Ultra license", Severity.LOW,
                           "Remove the AI Ultra licence from the suspended admin account (it is paid for and unused).")
USER_SUSPENDED_ULTRA = _t("user_suspended_ultra", "User suspended with AI Ultra license", Severity.LOW,
                          "Remove the AI Ultra licence from the suspended account.")
ADMIN_ULTRA = _t("admin_ultra", "Admin user with AI Ultra license", Severity.LOW,
                 "Confirm the admin needs Google AI Ultra; review what its agents may do with admin privileges.")
USER_ULTRA = _t("user_ultra", "User with AI Ultra license", Severity.LOW,
                "Confirm the person needs Google AI Ultra (informational).")

TYPES = (ADMIN_2FA, USER_2FA, ADMIN_SUSPENDED_ULTRA, USER_SUSPENDED_ULTRA, ADMIN_ULTRA, USER_ULTRA)


def licences(rows: Iterable[Mapping[str, Any]], ultra_skus: frozenset[str]) -> dict[str, dict[str, Any]]:
    """``{email: {"skus": [names], "ultra": bool}}`` from licence assignments."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        email = str(row.get("userId") or "").lower()
        if not email:
            continue
        entry = found.setdefault(email, {"skus": [], "ultra": False})
        name = str(row.get("skuName") or row.get("skuId") or "")
        if name and name not in entry["skus"]:
            entry["skus"].append(name)
        entry["ultra"] = entry["ultra"] or str(row.get("skuId")) in ultra_skus
    return found


def merge(known: Mapping[str, Mapping[str, Any]], more: Mapping[str, Mapping[str, Any]]) -> dict[str, dict]:
    merged = {k: {"skus": list(v["skus"]), "ultra": bool(v["ultra"])} for k, v in known.items()}
    for email, entry in more.items():
        target = merged.setdefault(email, {"skus": [], "ultra": False})
        target["skus"] = sorted(set(target["skus"]) | set(entry["skus"]))
        target["ultra"] = target["ultra"] or entry["ultra"]
    return merged


def user(row: Mapping[str, Any], licensed: Mapping[str, Mapping[str, Any]]) -> list[Observation]:
    email = str(row.get("primaryEmail") or "").lower()
    licence = licensed.get(email)
    if not licence:
        return []
    admin = bool(row.get("isAdmin") or row.get("isDelegatedAdmin"))
    base = {"key": f"user:{row.get('id')}", "asset": email, "asset_kind": "User", "owner": email,
            "details": {"admin": admin, "licences": licence["skus"], "suspended": bool(row.get("suspended")),
                        "two_step_enrolled": bool(row.get("isEnrolledIn2Sv"))}}
    found = []
    if row.get("suspended"):
        if licence["ultra"]:
            found.append(Observation((ADMIN_SUSPENDED_ULTRA if admin else USER_SUSPENDED_ULTRA).key, **base))
        return found
    if not row.get("isEnrolledIn2Sv"):
        found.append(Observation((ADMIN_2FA if admin else USER_2FA).key, **base))
    if licence["ultra"]:
        found.append(Observation((ADMIN_ULTRA if admin else USER_ULTRA).key, **base))
    return found
