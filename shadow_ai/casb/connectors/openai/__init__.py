"""OpenAI: the API platform organization (Admin API) and, when a ChatGPT Enterprise workspace is
named, its custom GPTs (Compliance API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shadow_ai.casb.connectors.base import Check, Connector, Context, Field, Page, Skip, Step, check_call
from shadow_ai.casb.connectors.errors import AuthError, BadRequest, NotFound
from shadow_ai.casb.connectors.openai import client, mapping


class OpenAIConnector(Connector):
    key = "openai"
    label = "OpenAI"
    vendor = "OpenAI"
    summary = "API platform admin and project keys, members and invites; ChatGPT Enterprise GPTs."
    hosts = client.HOSTS
    finding_types = mapping.TYPES
    default_interval = 6
    credential_fields = (
        Field("admin_api_key", "Admin API key", secret=True, placeholder="sk-admin-…",
              help="An Admin key created by an Organization Owner (Organization settings › Admin keys). "
                   "Read-only use: the console only lists."),
        Field("compliance_api_key", "Compliance API key", secret=True, required=False,
              help="For the GPT checks of a ChatGPT Enterprise workspace (requested from OpenAI). "
                   "Empty: the Admin API key is used."),
    )
    config_fields = (
        Field("organization_id", "Organization ID", required=False, placeholder="org-…",
              help="Sent as OpenAI-Organization when the key belongs to several organizations."),
        Field("workspace_id", "ChatGPT Enterprise workspace ID", required=False,
              help="Turns on the GPT checks (custom actions, code interpreter, browsing, public sharing)."),
    )
    requirements = (
        "Admin API key (organization level, created by an Organization Owner).",
        "Audit logging turned on (Organization settings › Data controls) for the inactive-member check.",
        "Optional: a Compliance API key and the ChatGPT Enterprise workspace ID for the GPT checks.",
    )

    def http_options(self, credentials: Mapping[str, str], config: Mapping[str, Any]) -> dict[str, Any]:
        key = credentials.get("admin_api_key", "")
        headers = {"OpenAI-Organization": config["organization_id"]} if config.get("organization_id") else {}
        return {"headers": headers, "auth": lambda: {"Authorization": f"Bearer {key}"}}

    def _compliance_key(self, ctx: Context) -> str:
        return ctx.credentials.get("compliance_api_key") or ctx.credentials.get("admin_api_key", "")

    # --- Connection test -------------------------------------------------------------------------

    def check(self, ctx: Context) -> list[Check]:
        results = [check_call(
            "Admin API key", lambda: client.admin_keys(ctx.http, None, limit=1),
            "Accepted: the key can read the organization's admin keys.",
            failed="The Admin API key does not work. Use an Admin key (sk-admin-…) of an Organization Owner.")]
        if not results[0].ok:
            return results
        results.append(check_call("Projects", lambda: client.projects(ctx.http, None, limit=1),
                                  "Projects and their API keys are readable."))
        results.append(check_call(
            "Audit log", lambda: client.logins_since(ctx.http, int(ctx.ago(1).timestamp()), None, limit=1),
            "Audit logging is on: inactive members are checked.", required=False,
            failed="Inactive members cannot be checked until audit logging is turned on."))
        workspace = ctx.config.get("workspace_id")
        if workspace:
            results.append(check_call(
                "Compliance API (GPTs)", lambda: client.gpts(ctx.http, workspace, self._compliance_key(ctx), None, 1),
                f"GPTs of workspace {workspace} are readable.",
                failed="The Compliance API refused: check the workspace ID and that the key has Compliance access."))
        return results

    # --- Scan ------------------------------------------------------------------------------------

    def steps(self, ctx: Context) -> list[Step]:
        steps = [
            Step("logins", "Reading sign-ins from the audit log", self._logins),
            Step("users", "Checking members for inactivity", self._users, (mapping.INACTIVE_USER.key,)),
            Step("invites", "Checking pending invites", self._invites,
                 (mapping.HIGH_INVITE.key, mapping.STALE_INVITE.key)),
            Step("admin_keys", "Checking admin API keys", self._admin_keys,
                 (mapping.ADMIN_NOT_ROTATED.key, mapping.ADMIN_UNUSED.key, mapping.ADMIN_NO_EXPIRY.key)),
            Step("projects", "Listing projects", self._projects),
            Step("project_keys", "Checking project API keys", self._project_keys,
                 (mapping.PROJECT_NOT_ROTATED.key, mapping.PROJECT_UNUSED.key)),
        ]
        if ctx.config.get("workspace_id"):
            steps.append(Step("gpts", "Checking custom GPTs", self._gpts,
                              tuple(t.key for t in (mapping.GPT_ACTIONS, mapping.GPT_CODE, mapping.GPT_BROWSING,
                                                    mapping.GPT_STORE, mapping.GPT_LINK))))
        return steps

    def _logins(self, ctx: Context, cursor: str | None) -> Page:
        since = int(ctx.ago(ctx.days("inactive_days", 30)).timestamp())
        try:
            events, after = client.logins_since(ctx.http, since, cursor)
        except (BadRequest, NotFound) as exc:
            ctx.state["logins_unavailable"] = True
            raise Skip(f"The audit log could not be read, so inactive members were not checked: {exc.message} "
                       "Turn on audit logging in the organization's data controls.") from None
        except AuthError as exc:
            if exc.status != 403:
                raise
            ctx.state["logins_unavailable"] = True
            raise Skip(f"The audit log is not readable with this key, so inactive members were not checked: "
                       f"{exc.message}") from None
        active = set(ctx.state.get("active_users", [])) | mapping.login_user_ids(events)
        ctx.state["active_users"] = sorted(active)
        return Page(assets=len(events), next_cursor=after)

    def _users(self, ctx: Context, cursor: str | None) -> Page:
        if ctx.state.get("logins_unavailable"):
            raise Skip("Inactive members were not checked: the audit log is not available.")
        rows, after = client.users(ctx.http, cursor)
        active = set(ctx.state.get("active_users", []))
        before = ctx.ago(ctx.days("inactive_days", 30))
        found = [o for row in rows for o in mapping.user(row, active=active, inactive_before=before)]
        return Page(found, len(rows), after)

    def _invites(self, ctx: Context, cursor: str | None) -> Page:
        rows, after = client.invites(ctx.http, cursor)
        stale = ctx.ago(ctx.days("stale_invite_days", 7))
        return Page([o for row in rows for o in mapping.invite(row, stale_before=stale)], len(rows), after)

    def _key_limits(self, ctx: Context) -> dict[str, Any]:
        return {"now": ctx.now, "rotate_before": ctx.ago(ctx.days("rotation_days", 90)),
                "unused_before": ctx.ago(ctx.days("unused_days", 30))}

    def _admin_keys(self, ctx: Context, cursor: str | None) -> Page:
        rows, after = client.admin_keys(ctx.http, cursor)
        limits = self._key_limits(ctx)
        return Page([o for row in rows for o in mapping.admin_key(row, **limits)], len(rows), after)

    def _projects(self, ctx: Context, cursor: str | None) -> Page:
        rows, after = client.projects(ctx.http, cursor)
        known = {p["id"]: p for p in ctx.state.get("projects", [])}
        for row in rows:
            if row.get("status", "active") == "active" and not row.get("archived_at"):
                known[str(row.get("id"))] = {"id": str(row.get("id")), "name": str(row.get("name") or "")}
        ctx.state["projects"] = sorted(known.values(), key=lambda p: p["id"])
        return Page(assets=len(rows), next_cursor=after)

    def _project_keys(self, ctx: Context, cursor: str | None) -> Page:
        projects = ctx.state.get("projects", [])
        index, _, after = (cursor or "0|").partition("|")
        position = int(index)
        if position >= len(projects):
            return Page()
        project = projects[position]
        try:
            rows, next_after = client.project_keys(ctx.http, project["id"], after or None)
        except NotFound:
            rows, next_after = [], None  # archived or deleted since it was listed
        limits = self._key_limits(ctx)
        found = [o for row in rows for o in mapping.project_key(row, project, **limits)]
        if next_after:
            following = f"{position}|{next_after}"
        else:
            following = f"{position + 1}|" if position + 1 < len(projects) else None
        return Page(found, len(rows), following)

    def _gpts(self, ctx: Context, cursor: str | None) -> Page:
        rows, after = client.gpts(ctx.http, ctx.config["workspace_id"], self._compliance_key(ctx), cursor)
        return Page([o for row in rows for o in mapping.gpt(row)], len(rows), after)
