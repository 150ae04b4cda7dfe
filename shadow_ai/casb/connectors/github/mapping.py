"""GitHub organization, members, apps, tokens and repositories → finding instances."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shadow_ai.casb.connectors.base import Observation, parse_time
from shadow_ai.casb.findings import FindingType, Severity

V = "GitHub"


def _t(key: str, title: str, severity: Severity, remediation: str, asset_kind: str, *, reference: bool = True):
    return FindingType(f"github.{key}", V, f"GitHub: {title}", severity, remediation, asset_kind, reference)


_RULE = ("Edit the default branch's protection rule (Settings › Branches) or add a ruleset for it, and turn on: ")
NO_PROTECTION = _t("no_branch_protection", "Repository has no Default Branch Protection", Severity.MEDIUM,
                   "Protect the default branch (Settings › Branches › Add rule, or a ruleset): require pull requests "
                   "with reviews and status checks, block force pushes.", "Repository")
NO_PR_REVIEW = _t("protection_no_pr_review", "Repository Default Branch Protection does not have PR Review Required",
                  Severity.MEDIUM, _RULE + "“Require a pull request before merging” with at least one approval.",
                  "Repository")
FORCE_PUSH = _t("protection_force_push", "Repository Default Branch Protection does not have Force Pushes Disabled",
                Severity.MEDIUM, "Edit the default branch's protection rule (Settings › Branches) and turn off "
                "“Allow force pushes”, or add a ruleset for it with “Block force pushes”.", "Repository")
STALE_REVIEWS = _t("protection_stale_reviews",
                   "Repository Default Branch Protection does not have Stale PR Approvals Disabled", Severity.MEDIUM,
                   _RULE + "“Dismiss stale pull request approvals when new commits are pushed”.", "Repository")
NO_ADMIN_RULES = _t("protection_admins", "Repository Default Branch Protection does not have Admin Restrictions",
                    Severity.MEDIUM, _RULE + "“Do not allow bypassing the above settings” (include administrators); "
                    "in a ruleset, leave its bypass list empty.",
                    "Repository")
NO_STATUS_CHECKS = _t("protection_status_checks", "Repository Default Branch Protection does not have Status Checks",
                      Severity.MEDIUM, _RULE + "“Require status checks to pass before merging”.", "Repository")
DEFAULT_WRITE = _t("default_write_permission", "Organization repository has default WRITE permission",
                   Severity.MEDIUM, "Set the organization's base permission to Read (or No permission) and grant "
                   "write access through teams (Organization settings › Member privileges).", "Organization")
STALE_REPO = _t("stale_repository", "Repository not updated in 12+ months", Severity.MEDIUM,
                "Archive repositories nobody maintains, so they stop receiving access and secrets.", "Repository")
ORG_2FA = _t("org_2fa_disabled", "Organization two-factor authentication disabled", Severity.HIGH,
             "Require two-factor authentication for everyone in the organization (Organization settings › "
             "Authentication security). Members without it are removed: warn them first.", "Organization")
USER_2FA = _t("user_2fa_disabled", "Organization user two-factor authentication disabled", Severity.HIGH,
              "Ask the member to enable two-factor authentication, then require it for the organization.", "Member")
APP_ORG_ADMIN = _t("app_org_admin", "App installed with organization administration access", Severity.HIGH,
                   "Review the app's permissions (Organization settings › GitHub Apps); uninstall it or ask its "
                   "publisher for a narrower permission set.", "GitHub App", reference=False)
APP_WRITE_ALL = _t("app_write_all", "App installed with write access to all repositories", Severity.MEDIUM,
                   "Limit the installation to the repositories it needs (Only select repositories) or uninstall it.",
                   "GitHub App", reference=False)
PAT_NO_EXPIRY = _t("pat_no_expiry", "Personal access token without expiry", Severity.MEDIUM,
                   "Ask the owner to replace the token with one that expires, and set a maximum lifetime for tokens "
                   "(Organization settings › Personal access tokens).", "Personal access token", reference=False)
PAT_UNUSED = _t("pat_unused", "Personal access token unused for 30+ days", Severity.LOW,
                "Revoke the token's access to the organization (Personal access tokens › Active tokens).",
                "Personal access token", reference=False)

REPO_TYPES = (NO_PROTECTION, NO_PR_REVIEW, FORCE_PUSH, STALE_REVIEWS, NO_ADMIN_RULES, NO_STATUS_CHECKS, STALE_REPO)
PROTECTION_TYPES = REPO_TYPES[:-1]
TYPES = (ORG_2FA, USER_2FA, DEFAULT_WRITE, *REPO_TYPES, APP_ORG_ADMIN, APP_WRITE_ALL, PAT_NO_EXPIRY, PAT_UNUSED)

WRITE = {"write", "admin"}
ORG_ADMIN_PERMISSIONS = ("organization_administration", "members", "organization_secrets",
                         "organization_personal_access_tokens")


def organization(org: Mapping[str, Any]) -> tuple[list[Observation], list[str]]:
    """Findings on the organization, and the types it could not check (fields hidden from us)."""
    login = str(org.get("login") or "")
    base = {"key": f"org:{org.get('id')}", "asset": login, "asset_kind": "Organization"}
    found, unchecked = [], []
    if "two_factor_requirement_enabled" not in org or org.get("two_factor_requirement_enabled") is None:
        unchecked.append(ORG_2FA.key)
    elif not org["two_factor_requirement_enabled"]:
        found.append(Observation(ORG_2FA.key, **base))
    permission = org.get("default_repository_permission")
    if permission is None:
        unchecked.append(DEFAULT_WRITE.key)
    elif permission in WRITE:
        found.append(Observation(DEFAULT_WRITE.key, **base, details={"default_permission": permission}))
    return found, unchecked


def member_without_2fa(row: Mapping[str, Any]) -> Observation:
    return Observation(USER_2FA.key, key=f"member:{row.get('id')}", asset=str(row.get("login")), asset_kind="Member",
                       owner=str(row.get("login")))


def installation(row: Mapping[str, Any]) -> list[Observation]:
    permissions = row.get("permissions") if isinstance(row.get("permissions"), Mapping) else {}
    slug = str(row.get("app_slug") or row.get("app_id"))
    base = {"key": f"installation:{row.get('id')}", "asset": slug, "asset_kind": "GitHub App",
            "details": {"permissions": dict(permissions), "repository_selection": row.get("repository_selection"),
                        "installed_at": row.get("created_at")}}
    found = []
    if any(permissions.get(p) in WRITE for p in ORG_ADMIN_PERMISSIONS):
        found.append(Observation(APP_ORG_ADMIN.key, **base))
    if row.get("repository_selection") == "all" and any(v in WRITE for v in permissions.values()):
        found.append(Observation(APP_WRITE_ALL.key, **base))
    return found


def fine_grained_token(row: Mapping[str, Any], *, unused_before: datetime) -> list[Observation]:
    if row.get("token_expired"):
        return []
    owner = row.get("owner") if isinstance(row.get("owner"), Mapping) else {}
    base = {"key": f"pat:{row.get('token_id') or row.get('id')}", "asset": str(row.get("token_name") or "token"),
            "asset_kind": "Fine-grained personal access token", "owner": str(owner.get("login") or ""),
            "details": {"expires_at": row.get("token_expires_at"), "last_used_at": row.get("token_last_used_at"),
                        "repository_selection": row.get("repository_selection")}}
    found = []
    if not row.get("token_expires_at"):
        found.append(Observation(PAT_NO_EXPIRY.key, **base))
    used = parse_time(row.get("token_last_used_at"))
    granted = parse_time(row.get("access_granted_at"))
    if (used and used < unused_before) or (used is None and granted and granted < unused_before):
        found.append(Observation(PAT_UNUSED.key, **base))
    return found


def credential(row: Mapping[str, Any], *, unused_before: datetime) -> list[Observation]:
    if row.get("credential_type") != "personal access token":
        return []
    name = row.get("authorized_credential_note") or row.get("authorized_credential_title") or "token"
    base = {"key": f"credential:{row.get('credential_id')}", "asset": f"{name} (…{row.get('token_last_eight', '')})",
            "asset_kind": "SSO-authorized personal access token", "owner": str(row.get("login") or ""),
            "details": {"scopes": row.get("scopes") or [], "expires_at": row.get("authorized_credential_expires_at"),
                        "last_used_at": row.get("credential_accessed_at")}}
    found = []
    if not row.get("authorized_credential_expires_at"):
        found.append(Observation(PAT_NO_EXPIRY.key, **base))
    used = parse_time(row.get("credential_accessed_at"))
    authorized = parse_time(row.get("credential_authorized_at"))
    if (used and used < unused_before) or (used is None and authorized and authorized < unused_before):
        found.append(Observation(PAT_UNUSED.key, **base))
    return found


def repository_age(repo: Mapping[str, Any], *, stale_before: datetime) -> list[Observation]:
    pushed = parse_time(repo.get("pushed_at")) or parse_time(repo.get("updated_at"))
    if repo.get("archived") or pushed is None or pushed >= stale_before:
        return []
    return [Observation(STALE_REPO.key, key=f"repo:{repo.get('id')}", asset=str(repo.get("full_name")),
                        asset_kind="Repository", details={"pushed_at": pushed.isoformat()})]


def _enabled(rule: Any) -> bool:
    return isinstance(rule, Mapping) and bool(rule.get("enabled"))


def ruleset_summary(rule: Mapping[str, Any], found: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the scan keeps of a ruleset (cached for the scan): where it is defined, its enforcement
    and who can bypass it. ``bypass`` is None when GitHub did not show the bypass list: it does so
    only to those who may edit the ruleset."""
    found = found or {}
    actors = found.get("bypass_actors")
    bypass = None
    if isinstance(actors, list):
        bypass = [_actor(a) for a in actors if isinstance(a, Mapping)]
    return {"id": rule.get("ruleset_id"), "name": str(found.get("name") or ""),
            "source_type": str(found.get("source_type") or rule.get("ruleset_source_type") or ""),
            "source": str(found.get("source") or rule.get("ruleset_source") or ""),
            "enforcement": found.get("enforcement"), "bypass": bypass}


def _actor(actor: Mapping[str, Any]) -> str:
    kind = str(actor.get("actor_type") or "actor")
    ident = actor.get("actor_id")
    who = kind if kind in ("OrganizationAdmin", "DeployKey") or ident is None else f"{kind} {ident}"
    return f"{who} ({actor.get('bypass_mode') or 'always'})"


def _ruleset_label(summary: Mapping[str, Any]) -> str:
    name = f"“{summary['name']}” " if summary.get("name") else ""
    return f"{name}#{summary.get('id')} ({summary.get('source_type', '').lower()} {summary.get('source')})".strip()


@dataclass(frozen=True)
class Protection:
    """What protects a default branch: its classic protection rule (None when there is none) and
    the active rules of the rulesets that apply to it, with those rulesets' summaries by id."""

    classic: Mapping[str, Any] | None
    rules: list[Mapping[str, Any]]
    rulesets: Mapping[Any, Mapping[str, Any]]

    def active_rules(self) -> list[Mapping[str, Any]]:
        # GitHub returns active rules only; a ruleset read as not active (switched between the two
        # calls) does not count either.
        return [r for r in self.rules
                if self.rulesets.get(r.get("ruleset_id"), {}).get("enforcement") in (None, "active")]

    def rule(self, kind: str) -> list[Mapping[str, Any]]:
        return [r for r in self.active_rules() if r.get("type") == kind]

    def applied_rulesets(self) -> list[Mapping[str, Any]]:
        ids = dict.fromkeys(r.get("ruleset_id") for r in self.active_rules())
        return [self.rulesets.get(i) or {"id": i, "source_type": "", "source": "", "bypass": None} for i in ids]

    def describe(self) -> list[str]:
        described = []
        for summary in self.applied_rulesets():
            kinds = sorted({str(r.get("type")) for r in self.active_rules() if r.get("ruleset_id") == summary["id"]})
            bypass = summary.get("bypass")
            who = "bypass list not visible" if bypass is None else (
                f"bypass: {', '.join(bypass)}" if bypass else "no bypass")
            described.append(f"{_ruleset_label(summary)}: {', '.join(kinds)}; {who}")
        return described


def _params(rule: Mapping[str, Any]) -> Mapping[str, Any]:
    params = rule.get("parameters")
    return params if isinstance(params, Mapping) else {}


def _reason(protection: Protection, classic_gap: str, ruleset_gap: str, *, named: bool = True) -> str:
    """Why a setting is missing, in one sentence: what the classic rule and the rulesets lack."""
    classic = f"the classic protection rule {classic_gap}" if protection.classic is not None else \
        "no classic protection rule"
    names = [_ruleset_label(s) for s in protection.applied_rulesets()]
    if not names:
        rulesets = "no active ruleset applies"
    elif named:
        rulesets = f"active rulesets ({'; '.join(names)}) {ruleset_gap}"
    else:
        rulesets = f"active rulesets {ruleset_gap}"
    return f"{classic[0].upper()}{classic[1:]}; {rulesets}."


def repository_protection(repo: Mapping[str, Any], protection: Protection) -> tuple[list[Observation], list[str]]:
    """The default branch's protection findings, from classic protection and rulesets together: each
    setting counts when either provides it. Also the types that could not be decided (a ruleset whose
    bypass list GitHub did not show)."""
    details = {"default_branch": repo.get("default_branch"), "private": bool(repo.get("private")),
               "classic_protection": protection.classic is not None, "rulesets": protection.describe()}
    base = {"key": f"repo:{repo.get('id')}", "asset": str(repo.get("full_name")), "asset_kind": "Repository"}

    def finding(kind: FindingType, reason: str) -> Observation:
        return Observation(kind.key, **base, details={**details, "reason": reason})

    classic = protection.classic
    if classic is None and not protection.active_rules():
        return [finding(NO_PROTECTION, f"No classic protection rule and no active ruleset applies to "
                                       f"“{repo.get('default_branch')}”.")], []
    classic = classic or {}
    found, undecided = [], []
    reviews = classic.get("required_pull_request_reviews")
    reviews = reviews if isinstance(reviews, Mapping) else None
    pull_requests = protection.rule("pull_request")
    if reviews is None and not pull_requests:
        found.append(finding(NO_PR_REVIEW, _reason(protection, "does not require pull request reviews",
                                                   "have no “Require a pull request before merging” rule")))
    classic_blocks_force = protection.classic is not None and not _enabled(classic.get("allow_force_pushes"))
    if not classic_blocks_force and not protection.rule("non_fast_forward"):
        found.append(finding(FORCE_PUSH, _reason(protection, "allows force pushes",
                                                 "have no “Block force pushes” rule")))
    if not (reviews and reviews.get("dismiss_stale_reviews")) and \
            not any(_params(r).get("dismiss_stale_reviews_on_push") for r in pull_requests):
        found.append(finding(STALE_REVIEWS, _reason(protection, "does not dismiss stale approvals",
                                                    "do not dismiss stale approvals when new commits are pushed")))
    if not isinstance(classic.get("required_status_checks"), Mapping) and \
            not protection.rule("required_status_checks"):
        found.append(finding(NO_STATUS_CHECKS, _reason(protection, "does not require status checks",
                                                       "have no “Require status checks to pass” rule")))
    if not _enabled(classic.get("enforce_admins")):
        applied = protection.applied_rulesets()
        bypassed = [s for s in applied if s.get("bypass")]
        hidden = [s for s in applied if s.get("bypass") is None]
        if bypassed or not applied:
            who = "; ".join(f"{_ruleset_label(s)} by {', '.join(s['bypass'])}" for s in bypassed)
            found.append(finding(NO_ADMIN_RULES, _reason(protection, "does not include administrators",
                                                         f"can be bypassed: {who}", named=False)))
        elif hidden:
            undecided.append(NO_ADMIN_RULES.key)
    return found, undecided
