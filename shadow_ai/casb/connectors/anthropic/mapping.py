"""Anthropic objects → finding instances. Pure functions of the vendor's JSON and the scan's clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from shadow_ai.casb.connectors.base import Observation, parse_time
from shadow_ai.casb.findings import FindingType, Severity

UNUSED_KEY = FindingType(
    "anthropic.unused_api_key", "Anthropic", "Anthropic: Unused API key", Severity.MEDIUM,
    "Archive API keys that have not been used recently (Claude Console › Settings › API keys); create a new key "
    "when it is needed again.", "API key")
HIGH_INVITE = FindingType(
    "anthropic.high_privilege_invite", "Anthropic", "Anthropic: High-privilege invite", Severity.HIGH,
    "Confirm the invitee should be an admin; otherwise delete the invite and invite them with a lower role.",
    "Invite")
STALE_INVITE = FindingType(
    "anthropic.stale_pending_invite", "Anthropic", "Anthropic: Stale pending invite", Severity.LOW,
    "Delete invites that were never accepted; invite the person again if they still need access.", "Invite")
NO_EXPIRY = FindingType(
    "anthropic.api_key_without_expiry", "Anthropic", "Anthropic: API key without expiry", Severity.LOW,
    "Prefer API keys with an expiry date, so a forgotten key stops working on its own.", "API key",
    reference=False)

DLP_FILE = FindingType(
    "anthropic.dlp_downloadable_file", "Anthropic", "Anthropic: Downloadable File with DLP Profile match",
    Severity.HIGH,
    "Delete the file (Files API: DELETE /v1/files/{file_id}) if the data should not be stored with Anthropic, and "
    "find the application or skill that produced it: downloadable files are ones Claude created, so sensitive data "
    "reached the model.", "File")

TYPES = (UNUSED_KEY, HIGH_INVITE, STALE_INVITE, NO_EXPIRY, DLP_FILE)
PRIVILEGED_ROLES = {"admin", "owner", "primary_owner", "membership_admin"}


def used_key_ids(buckets: Iterable[Mapping[str, Any]]) -> set[str]:
    """API keys with any Messages usage in the report's buckets."""
    found = set()
    for bucket in buckets:
        for result in bucket.get("results") or []:
            if isinstance(result, Mapping) and result.get("api_key_id"):
                found.add(str(result["api_key_id"]))
    return found


def api_key(row: Mapping[str, Any], *, used: set[str], unused_before: datetime, workspaces: Mapping[str, str],
            people: Mapping[str, str]) -> list[Observation]:
    if row.get("status", "active") != "active":
        return []
    created = parse_time(row.get("created_at"))
    hint = row.get("partial_key_hint") or ""
    name = row.get("name") or "unnamed key"
    scope = row.get("scope") if isinstance(row.get("scope"), Mapping) else {}
    # The key's workspace is in ``scope`` (``{"type": "workspace", "workspace_id": …}``); older
    # answers had a top-level ``workspace_id``, still read when there is no scope.
    workspace_id = scope.get("workspace_id") or (row.get("workspace_id") if not scope else "") or ""
    creator = row.get("created_by") if isinstance(row.get("created_by"), Mapping) else {}
    base = {
        "key": f"api_key:{row.get('id')}", "asset": f"{name} ({hint})" if hint else str(name), "asset_kind": "API key",
        "owner": people.get(str(creator.get("id")), "") if creator else "",
        "details": {"workspace": workspaces.get(str(workspace_id), workspace_id or "Default workspace"),
                    "created_at": created.isoformat() if created else None,
                    "expires_at": row.get("expires_at")},
    }
    found = []
    if str(row.get("id")) not in used and created and created < unused_before:
        found.append(Observation(UNUSED_KEY.key, **base))
    if "expires_at" in row and row.get("expires_at") is None:
        found.append(Observation(NO_EXPIRY.key, **base))
    return found


def invite(row: Mapping[str, Any], *, stale_before: datetime) -> list[Observation]:
    if row.get("status") != "pending":
        return []
    invited = parse_time(row.get("invited_at"))
    base = {"key": f"invite:{row.get('id')}", "asset": str(row.get("email") or row.get("id")), "asset_kind": "Invite",
            "owner": str(row.get("email") or ""),
            "details": {"role": row.get("role"), "invited_at": invited.isoformat() if invited else None,
                        "expires_at": row.get("expires_at")}}
    found = []
    if row.get("role") in PRIVILEGED_ROLES:
        found.append(Observation(HIGH_INVITE.key, **base))
    if invited and invited < stale_before:
        found.append(Observation(STALE_INVITE.key, **base))
    return found


def dlp_file(row: Mapping[str, Any], *, dlp: Mapping[str, Any]) -> Observation:
    """A downloadable file with a DLP match, keyed by its file id."""
    created = parse_time(row.get("created_at"))
    return Observation(DLP_FILE.key, key=f"file:{row.get('id')}", asset=str(row.get("filename") or row.get("id")),
                       asset_kind="File",
                       details={"file_id": row.get("id"), "mime_type": row.get("mime_type"),
                                "size_bytes": row.get("size_bytes"),
                                "created_at": created.isoformat() if created else None, **dlp})
