"""OpenAI: the API platform organization (Admin API) and, when a ChatGPT Enterprise workspace is
named, its custom GPTs (Compliance API) and, with DLP profiles chosen, the files in its
conversations, GPTs and projects (Compliance API downloads, scanned with the profiles)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shadow_ai.casb.connectors import content
from shadow_ai.casb.connectors.base import (
    Check,
    Connector,
    Context,
    Field,
    Observation,
    Page,
    Skip,
    Step,
    check_call,
)
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
              help="Turns on the GPT checks (custom actions, code interpreter, browsing, public sharing) and, with "
                   "DLP profiles chosen, the scans of files in conversations, GPTs and projects."),
    )
    requirements = (
        "Admin API key (organization level, created by an Organization Owner).",
        "Audit logging turned on (Organization settings › Data controls) for the inactive-member check.",
        "Optional: a Compliance API key and the ChatGPT Enterprise workspace ID for the GPT checks.",
        "For DLP scans of files: the Compliance API key and workspace ID, and DLP profiles chosen on the "
        "integration.",
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
        steps += [
            Step("dlp_gpt_files", "Scanning GPT files with DLP profiles", self._dlp_gpt_files,
                 (mapping.DLP_GPT.key,)),
            Step("dlp_project_files", "Scanning project files with DLP profiles", self._dlp_project_files,
                 (mapping.DLP_PROJECT.key,)),
            Step("dlp_conversation_files", "Scanning conversation files with DLP profiles",
                 self._dlp_conversation_files, (mapping.DLP_CONVERSATION.key,)),
        ]
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

    # --- DLP scans of files (Compliance API) -------------------------------------------------------

    def _dlp_ready(self, ctx: Context, type_key: str) -> tuple[str, str]:
        """The workspace and key for a DLP step, or Skip (its type keeps its state)."""
        content.require_dlp(ctx, type_key)
        workspace = ctx.config.get("workspace_id")
        if not workspace:
            ctx.unchecked(type_key)
            raise Skip("Files were not scanned: DLP scans of ChatGPT files need the ChatGPT Enterprise workspace ID "
                       "and a Compliance API key.")
        return str(workspace), self._compliance_key(ctx)

    def _dlp_list(self, ctx: Context, type_key: str, what: str, call):
        try:
            return call()
        except (NotFound, BadRequest) as exc:
            ctx.unchecked(type_key)
            raise Skip(f"{what} could not be listed, so their files were not scanned: {exc.message}") from None
        except AuthError as exc:
            if exc.status != 403:
                raise
            ctx.unchecked(type_key)
            raise Skip(f"The Compliance API key cannot read {what.lower()}, so their files were not scanned: "
                       f"{exc.message}") from None

    def _scan(self, ctx: Context, step: str, item, download) -> dict[str, Any] | None:
        try:
            return content.scan_file(ctx, step, name=mapping.file_name(item), mime=item.get("mime_type"),
                                     size=item.get("size_bytes") if isinstance(item.get("size_bytes"), int) else None,
                                     download=download)
        except NotFound:
            return None  # deleted between the listing and the download

    def _dlp_gpt_files(self, ctx: Context, cursor: str | None) -> Page:
        return self._dlp_config_files(ctx, cursor, mapping.DLP_GPT.key, "dlp_gpt_files", "GPT",
                                      client.gpts, client.gpt_file)

    def _dlp_project_files(self, ctx: Context, cursor: str | None) -> Page:
        return self._dlp_config_files(ctx, cursor, mapping.DLP_PROJECT.key, "dlp_project_files", "Project",
                                      client.compliance_projects, client.project_file)

    def _dlp_config_files(self, ctx: Context, cursor: str | None, type_key: str, step: str, kind: str,
                          list_page: Callable[..., Any], read_file: Callable[..., Any]) -> Page:
        """One page of GPTs or projects, and the DLP matches in the files of their latest config."""
        workspace, key = self._dlp_ready(ctx, type_key)
        rows, after = self._dlp_list(ctx, type_key, f"{kind}s", lambda: list_page(ctx.http, workspace, key, cursor))
        found: list[Observation] = []
        noun = kind.lower()
        for row in rows:
            name, files = mapping.config_files(row)
            for item in files:
                dlp = self._scan(ctx, step, item, lambda limit, f=item: read_file(
                    ctx.http, workspace, key, str(f["id"]), limit))
                if dlp:
                    found.append(mapping.dlp_file(type_key, item, owner=str(row.get("owner_email") or ""),
                                                  where={f"{noun}_id": row.get("id"), noun: name}, dlp=dlp))
        if after is None:
            content.warn_passed_over(ctx, step, f"{kind} files")
        return Page(found, len(rows), after)

    def _messages(self, ctx: Context, workspace: str, key: str, conversation: Mapping[str, Any]):
        """A conversation's messages: those the listing carries, the rest paged from its messages."""
        inline = conversation.get("messages")
        more = isinstance(inline, Mapping) and bool(inline.get("has_more"))
        messages = mapping.listed(inline)
        if inline is not None and not more:
            return messages
        after = (str(inline.get("last_id")) if more and inline.get("last_id") else None)
        if inline is None:
            messages = []
        while True:
            rows, after = client.conversation_messages(ctx.http, workspace, key, str(conversation.get("id")), after)
            messages.extend(rows)
            if after is None:
                return messages

    def _dlp_conversation_files(self, ctx: Context, cursor: str | None) -> Page:
        workspace, key = self._dlp_ready(ctx, mapping.DLP_CONVERSATION.key)
        rows, after = self._dlp_list(ctx, mapping.DLP_CONVERSATION.key, "Conversations",
                                     lambda: client.conversations(ctx.http, workspace, key, cursor))
        found: list[Observation] = []
        for conversation in rows:
            seen: set[str] = set()
            user_id = str(conversation.get("user_id") or "")
            for message in self._messages(ctx, workspace, key, conversation):
                for item in mapping.listed(message.get("files")):
                    file_id = str(item.get("id") or "")
                    if not file_id or file_id in seen or not user_id:
                        continue
                    seen.add(file_id)
                    dlp = self._scan(ctx, "dlp_conversation_files", item,
                                     lambda limit, f=file_id, u=user_id: client.user_file(
                                         ctx.http, workspace, key, u, f, limit))
                    if dlp:
                        where = {"conversation_id": conversation.get("id"), "conversation": conversation.get("title"),
                                 **({"gpt_id": message["gpt_id"]} if message.get("gpt_id") else {}),
                                 **({"project_id": message["project_id"]} if message.get("project_id") else {})}
                        found.append(mapping.dlp_file(mapping.DLP_CONVERSATION.key, item,
                                                      owner=str(conversation.get("user_email") or ""), where=where,
                                                      dlp=dlp))
        if after is None:
            content.warn_passed_over(ctx, "dlp_conversation_files", "Conversation files")
        return Page(found, len(rows), after)
