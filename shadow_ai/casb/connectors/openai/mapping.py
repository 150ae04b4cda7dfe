"""OpenAI objects → finding instances. Pure functions of the vendor's JSON and the scan's clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from shadow_ai.casb.connectors.base import Observation, parse_time
from shadow_ai.casb.findings import FindingType, Severity

V = "OpenAI"


def _t(key: str, title: str, severity: Severity, remediation: str, asset_kind: str, reference: bool = True):
    return FindingType(f"openai.{key}", V, f"OpenAI: {title}", severity, remediation, asset_kind, reference)


GPT_ACTIONS = _t("gpt_custom_actions", "GPT with Custom Actions enabled", Severity.HIGH,
                 "Review the GPT's actions and the domains they call. Remove actions that send workspace data to "
                 "services you have not approved, and allow GPT actions only to approved domains (ChatGPT workspace "
                 "settings › GPTs › Actions).", "GPT")
GPT_CODE = _t("gpt_code_interpreter", "GPT with Code Interpreter enabled", Severity.MEDIUM,
              "Turn off Code Interpreter & Data Analysis for GPTs that do not need it: it runs code over files "
              "people upload to the GPT.", "GPT")
GPT_BROWSING = _t("gpt_web_browsing", "GPT with web browsing enabled", Severity.MEDIUM,
                  "Turn off web browsing for GPTs that do not need it: browsing can fetch untrusted content into "
                  "conversations and leak prompt content to the sites it searches.", "GPT")
GPT_STORE = _t("gpt_public_store", "GPT publicly accessible via GPT Store", Severity.HIGH,
               "Unpublish the GPT from the GPT Store or restrict sharing to the workspace; block public sharing of "
               "GPTs in the workspace settings.", "GPT")
GPT_LINK = _t("gpt_public_link", "GPT publicly accessible via public link", Severity.HIGH,
              "Change the GPT's sharing from “Anyone with the link” to the workspace or named people.", "GPT")
ADMIN_NOT_ROTATED = _t("admin_key_not_rotated", "Admin API key not rotated", Severity.HIGH,
                       "Create a new Admin API key, move its users to it, then delete the old key (Organization "
                       "settings › Admin keys). Rotate admin keys at least every 90 days.", "Admin API key")
PROJECT_NOT_ROTATED = _t("project_key_not_rotated", "Project API key not rotated", Severity.HIGH,
                         "Create a replacement key in the project, update the application that uses it, then revoke "
                         "the old key (Project settings › API keys).", "Project API key")
ADMIN_UNUSED = _t("unused_admin_key", "Unused admin API key", Severity.MEDIUM,
                  "Delete admin keys nobody uses: an unused key with organization-wide power is pure risk.",
                  "Admin API key")
PROJECT_UNUSED = _t("unused_project_key", "Unused project API key", Severity.MEDIUM,
                    "Revoke project keys that have not been used recently; create a new one when it is needed again.",
                    "Project API key")
HIGH_INVITE = _t("high_privilege_invite", "High-privilege invite", Severity.HIGH,
                 "Confirm the invitee should be an Owner; otherwise revoke the invite and invite them as a Reader.",
                 "Invite")
INACTIVE_USER = _t("inactive_user", "Inactive user", Severity.MEDIUM,
                   "Remove people who no longer use the organization, or lower their role.", "User")
STALE_INVITE = _t("stale_pending_invite", "Stale pending invite", Severity.LOW,
                  "Revoke invites that were never accepted; invite the person again if they still need access.",
                  "Invite")
ADMIN_NO_EXPIRY = _t("admin_key_without_expiry", "Admin API key without expiry", Severity.LOW,
                     "Prefer admin keys with an expiry date, so a forgotten key stops working on its own.",
                     "Admin API key", reference=False)

DLP_CONVERSATION = _t("dlp_conversation_file", "File in ChatGPT Conversation with DLP Profile match", Severity.HIGH,
                      "Open the conversation with its owner: delete the file (or the conversation) if the data should "
                      "not be in ChatGPT, and remind people which data may be shared with AI tools. Consider a "
                      "Gateway policy that blocks uploads of matching content to ChatGPT.", "File")
DLP_GPT = _t("dlp_gpt_file", "File in ChatGPT GPT with DLP Profile match", Severity.HIGH,
             "Remove the file from the GPT's knowledge (GPT editor › Configure › Knowledge), or restrict who can use "
             "the GPT: everyone who can chat with it can get the file's contents back.", "File")
DLP_PROJECT = _t("dlp_project_file", "File in ChatGPT Project with DLP Profile match", Severity.HIGH,
                 "Remove the file from the project's files, or stop sharing the project with people who should not "
                 "see that data.", "File")

TYPES = (GPT_ACTIONS, GPT_CODE, GPT_BROWSING, GPT_STORE, GPT_LINK, ADMIN_NOT_ROTATED, PROJECT_NOT_ROTATED,
         ADMIN_UNUSED, PROJECT_UNUSED, HIGH_INVITE, INACTIVE_USER, STALE_INVITE, ADMIN_NO_EXPIRY,
         DLP_CONVERSATION, DLP_GPT, DLP_PROJECT)
DLP_TYPES = (DLP_CONVERSATION.key, DLP_GPT.key, DLP_PROJECT.key)

# The Compliance API names GPT tools by type; accept the spellings seen in the wild.
BROWSING_TOOLS = {"browser", "browsing", "web_browsing", "web-browsing", "web_search", "web-search"}
CODE_TOOLS = {"python", "code_interpreter", "code-interpreter", "data_analysis", "data-analysis"}
ACTION_TOOLS = {"plugins_prototype", "custom_action", "custom-action", "action", "actions", "gpt_action"}
PRIVILEGED_ROLES = {"owner"}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _owner(owner: Any, *, kind: str) -> str:
    """Who holds a key. A project key's ``owner`` wraps a ``user`` (with an e-mail) or a
    ``service_account``; an admin key's ``owner`` is flat (``type``, ``id``, ``name``, ``role``:
    no e-mail in the Admin API's AdminApiKey schema)."""
    if not isinstance(owner, Mapping):
        return ""
    if kind == "Admin API key":
        return str(owner.get("name") or owner.get("id") or "")
    kind_of_owner = owner.get("type")
    if kind_of_owner == "user" and isinstance(owner.get("user"), Mapping):
        return str(owner["user"].get("email") or owner["user"].get("name") or "")
    if kind_of_owner == "service_account" and isinstance(owner.get("service_account"), Mapping):
        return f"service account {owner['service_account'].get('name') or owner['service_account'].get('id')}"
    return ""


def _key_name(key: Mapping[str, Any]) -> str:
    name = key.get("name") or "unnamed key"
    redacted = key.get("redacted_value") or ""
    return f"{name} ({redacted})" if redacted else str(name)


def _age_checks(key: Mapping[str, Any], *, now: datetime, rotate_before: datetime, unused_before: datetime,
                not_rotated: FindingType, unused: FindingType, kind: str, prefix: str,
                extra: Mapping[str, Any]) -> list[Observation]:
    created = parse_time(key.get("created_at"))
    used = parse_time(key.get("last_used_at"))
    details = {"created_at": created.isoformat() if created else None,
               "last_used_at": used.isoformat() if used else None, **extra}
    found = []
    base = {"key": f"{prefix}:{key.get('id')}", "asset": _key_name(key), "asset_kind": kind,
            "owner": _owner(key.get("owner"), kind=kind), "details": details}
    if created and created < rotate_before:
        found.append(Observation(not_rotated.key, **base))
    if (used is None and created and created < unused_before) or (used is not None and used < unused_before):
        found.append(Observation(unused.key, **base))
    return found


def admin_key(key: Mapping[str, Any], *, now: datetime, rotate_before: datetime,
              unused_before: datetime) -> list[Observation]:
    found = _age_checks(key, now=now, rotate_before=rotate_before, unused_before=unused_before,
                        not_rotated=ADMIN_NOT_ROTATED, unused=ADMIN_UNUSED, kind="Admin API key", prefix="admin_key",
                        extra={})
    if "expires_at" in key and key.get("expires_at") is None:
        found.append(Observation(ADMIN_NO_EXPIRY.key, key=f"admin_key:{key.get('id')}", asset=_key_name(key),
                                 asset_kind="Admin API key", owner=_owner(key.get("owner"), kind="Admin API key")))
    return found


def project_key(key: Mapping[str, Any], project: Mapping[str, Any], *, now: datetime, rotate_before: datetime,
                unused_before: datetime) -> list[Observation]:
    return _age_checks(key, now=now, rotate_before=rotate_before, unused_before=unused_before,
                       not_rotated=PROJECT_NOT_ROTATED, unused=PROJECT_UNUSED, kind="Project API key",
                       prefix=f"project_key:{project.get('id')}",
                       extra={"project": project.get("name") or project.get("id")})


def invite(row: Mapping[str, Any], *, stale_before: datetime) -> list[Observation]:
    if row.get("status") != "pending":
        return []
    # The Invite object's send time is ``created_at``; ``invited_at`` is its earlier name, still
    # read when an older answer carries only that.
    invited = parse_time(row.get("created_at") or row.get("invited_at"))
    base = {"key": f"invite:{row.get('id')}", "asset": str(row.get("email") or row.get("id")),
            "asset_kind": "Invite", "owner": str(row.get("email") or ""),
            "details": {"role": row.get("role"), "invited_at": invited.isoformat() if invited else None,
                        "expires_at": _iso(parse_time(row.get("expires_at")))}}
    found = []
    if row.get("role") in PRIVILEGED_ROLES:
        found.append(Observation(HIGH_INVITE.key, **base))
    if invited and invited < stale_before:
        found.append(Observation(STALE_INVITE.key, **base))
    return found


def user(row: Mapping[str, Any], *, active: set[str], inactive_before: datetime) -> list[Observation]:
    added = parse_time(row.get("added_at"))
    if str(row.get("id")) in active or (added and added >= inactive_before):
        return []
    return [Observation(INACTIVE_USER.key, key=f"user:{row.get('id')}",
                        asset=str(row.get("email") or row.get("name") or row.get("id")), asset_kind="User",
                        owner=str(row.get("email") or ""),
                        details={"role": row.get("role"), "added_at": added.isoformat() if added else None})]


def login_user_ids(events: Iterable[Mapping[str, Any]]) -> set[str]:
    """User ids of ``login.succeeded`` audit events (``actor.session.user.id``)."""
    found = set()
    for event in events:
        actor = event.get("actor") if isinstance(event.get("actor"), Mapping) else {}
        session = actor.get("session") if isinstance(actor.get("session"), Mapping) else {}
        person = session.get("user") if isinstance(session.get("user"), Mapping) else {}
        if person.get("id"):
            found.add(str(person["id"]))
    return found


def _configs(gpt: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    latest = gpt.get("latest_config")
    if isinstance(latest, Mapping):
        latest = latest.get("data")
    return [c for c in latest or [] if isinstance(c, Mapping)]


def _tools(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tools = config.get("tools")
    if isinstance(tools, Mapping):
        tools = tools.get("data")
    return [t for t in tools or [] if isinstance(t, Mapping)]


def gpt(row: Mapping[str, Any]) -> list[Observation]:
    configs = _configs(row)
    config = configs[0] if configs else {}
    name = config.get("name") or row.get("id")
    tools = _tools(config)
    kinds = {str(t.get("type", "")).lower() for t in tools}
    domains = sorted({str(t["action_domain"]) for t in tools if t.get("action_domain")})
    sharing = row.get("sharing") if isinstance(row.get("sharing"), Mapping) else {}
    visibility = sharing.get("visibility") or ""
    base = {"key": f"gpt:{row.get('id')}", "asset": f"{name}", "asset_kind": "GPT",
            "owner": str(row.get("owner_email") or ""),
            "details": {"gpt_id": row.get("id"), "visibility": visibility, "tools": sorted(kinds),
                        **({"action_domains": domains} if domains else {})}}
    found = []
    if domains or kinds & ACTION_TOOLS:
        found.append(Observation(GPT_ACTIONS.key, **base))
    if kinds & CODE_TOOLS:
        found.append(Observation(GPT_CODE.key, **base))
    if kinds & BROWSING_TOOLS:
        found.append(Observation(GPT_BROWSING.key, **base))
    if visibility == "gpt-store":
        found.append(Observation(GPT_STORE.key, **base))
    if visibility == "anyone-with-link":
        found.append(Observation(GPT_LINK.key, **base))
    return found


# --- Files for DLP scans (Compliance API) --------------------------------------------------------


def listed(value: Any) -> list[Mapping[str, Any]]:
    """A Compliance API list, either ``{"object": "list", "data": [...]}`` or a bare array."""
    if isinstance(value, Mapping):
        value = value.get("data")
    return [item for item in value or [] if isinstance(item, Mapping)]


def config_files(row: Mapping[str, Any]) -> tuple[str, list[Mapping[str, Any]]]:
    """A GPT's or project's name and the files of its latest configuration."""
    configs = listed(row.get("latest_config"))
    config = configs[0] if configs else {}
    return str(config.get("name") or row.get("id") or ""), [f for f in listed(config.get("files")) if f.get("id")]


def file_name(item: Mapping[str, Any]) -> str:
    return str(item.get("name") or item.get("filename") or item.get("id") or "")


def dlp_file(type_key: str, item: Mapping[str, Any], *, owner: str, where: Mapping[str, Any],
             dlp: Mapping[str, Any]) -> Observation:
    """One file with a DLP match; keyed by the file id, so a re-scan without it resolves it."""
    kind = {DLP_CONVERSATION.key: "conversation_file", DLP_GPT.key: "gpt_file", DLP_PROJECT.key: "project_file"}
    return Observation(type_key, key=f"{kind[type_key]}:{item.get('id')}", asset=file_name(item), asset_kind="File",
                       owner=owner, details={"file_id": item.get("id"), **where, **dlp})
