"""Anthropic: the Claude Console / API platform organization, through the Admin API, and, with an
optional workspace API key and DLP profiles, the downloadable files of that workspace (Files API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shadow_ai.casb.connectors import content
from shadow_ai.casb.connectors.anthropic import client, mapping
from shadow_ai.casb.connectors.base import Check, Connector, Context, Field, Page, Skip, Step, check_call
from shadow_ai.casb.connectors.errors import AuthError, BadRequest, NotFound


class AnthropicConnector(Connector):
    key = "anthropic"
    label = "Anthropic"
    vendor = "Anthropic"
    summary = "Claude Console and API platform: API keys, invites and members."
    hosts = client.HOSTS
    finding_types = mapping.TYPES
    default_interval = 6
    credential_fields = (
        Field("admin_api_key", "Admin API key", secret=True, placeholder="sk-ant-admin…",
              help="Created by an organization admin (Claude Console › Settings › Admin keys). The organization "
                   "must be on a Team or Enterprise plan."),
        Field("api_key", "Workspace API key (Files API)", secret=True, required=False, placeholder="sk-ant-api03-…",
              help="Optional: a regular API key of the workspace whose files should be scanned with the "
                   "integration's DLP profiles (the Files API does not accept Admin keys)."),
    )
    requirements = (
        "A Team or Enterprise organization.",
        "An Admin API key (sk-ant-admin…) created by an organization admin; the console only lists.",
        "Optional, for DLP scans of downloadable files: a regular API key of the workspace (Files API), and DLP "
        "profiles chosen on the integration.",
    )

    def http_options(self, credentials: Mapping[str, str], config: Mapping[str, Any]) -> dict[str, Any]:
        key = credentials.get("admin_api_key", "")
        return {"headers": {"anthropic-version": client.VERSION}, "auth": lambda: {"x-api-key": key}}

    def check(self, ctx: Context) -> list[Check]:
        results = [check_call(
            "Admin API key", lambda: client.users(ctx.http, None, limit=1),
            "Accepted: the key can read the organization's members.",
            failed="The Admin API key does not work. Use an Admin key (sk-ant-admin…), not a regular API key.")]
        if not results[0].ok:
            return results
        results.append(check_call("API keys", lambda: client.api_keys(ctx.http, None, limit=1),
                                  "The organization's API keys are readable."))
        results.append(check_call(
            "Usage report", lambda: client.usage_by_key(ctx.http, ctx.ago(1), None),
            "Usage per API key is readable: unused keys are checked.", required=False,
            failed="Unused keys cannot be checked without the usage report."))
        if ctx.credentials.get("api_key"):
            results.append(check_call(
                "Files API", lambda: client.files(ctx.http, ctx.credentials["api_key"], None, limit=1),
                "The workspace's files are readable: downloadable files are scanned with the DLP profiles.",
                required=False, failed="Downloadable files cannot be scanned with this workspace API key."))
        return results

    def steps(self, ctx: Context) -> list[Step]:
        return [
            Step("workspaces", "Listing workspaces", self._workspaces),
            Step("users", "Listing members", self._users),
            Step("usage", "Reading API key usage", self._usage),
            Step("api_keys", "Checking API keys", self._api_keys, (mapping.UNUSED_KEY.key, mapping.NO_EXPIRY.key)),
            Step("invites", "Checking pending invites", self._invites,
                 (mapping.HIGH_INVITE.key, mapping.STALE_INVITE.key)),
            Step("dlp_files", "Scanning downloadable files with DLP profiles", self._dlp_files,
                 (mapping.DLP_FILE.key,)),
        ]

    def _workspaces(self, ctx: Context, cursor: str | None) -> Page:
        rows, after = client.workspaces(ctx.http, cursor)
        names = dict(ctx.state.get("workspaces", {}))
        names.update({str(r.get("id")): str(r.get("name") or r.get("id")) for r in rows})
        ctx.state["workspaces"] = names
        return Page(assets=len(rows), next_cursor=after)

    def _users(self, ctx: Context, cursor: str | None) -> Page:
        rows, after = client.users(ctx.http, cursor)
        people = dict(ctx.state.get("people", {}))
        people.update({str(r.get("id")): str(r.get("email") or "") for r in rows})
        ctx.state["people"] = people
        return Page(assets=len(rows), next_cursor=after)

    def _usage(self, ctx: Context, cursor: str | None) -> Page:
        since = ctx.ago(ctx.days("unused_days", 30))
        try:
            buckets, following = client.usage_by_key(ctx.http, since, cursor)
        except (BadRequest, NotFound) as exc:
            ctx.state["usage_unavailable"] = True
            raise Skip(f"The usage report could not be read, so unused keys were not checked: {exc.message}") from None
        except AuthError as exc:
            if exc.status != 403:
                raise
            ctx.state["usage_unavailable"] = True
            raise Skip(f"The usage report is not readable with this key: {exc.message}") from None
        used = set(ctx.state.get("used_keys", [])) | mapping.used_key_ids(buckets)
        ctx.state["used_keys"] = sorted(used)
        return Page(assets=len(buckets), next_cursor=following)

    def _api_keys(self, ctx: Context, cursor: str | None) -> Page:
        rows, after = client.api_keys(ctx.http, cursor)
        found = []
        unused_before = ctx.ago(ctx.days("unused_days", 30))
        # Without the usage report every key would look unused: report only what is known.
        used = set(ctx.state.get("used_keys", []))
        if ctx.state.get("usage_unavailable"):
            ctx.unchecked(mapping.UNUSED_KEY.key)
        for row in rows:
            for item in mapping.api_key(row, used=used, unused_before=unused_before,
                                        workspaces=ctx.state.get("workspaces", {}),
                                        people=ctx.state.get("people", {})):
                if item.type_key == mapping.UNUSED_KEY.key and ctx.state.get("usage_unavailable"):
                    continue
                found.append(item)
        return Page(found, len(rows), after)

    def _invites(self, ctx: Context, cursor: str | None) -> Page:
        rows, after = client.invites(ctx.http, cursor)
        stale = ctx.ago(ctx.days("stale_invite_days", 7))
        return Page([o for row in rows for o in mapping.invite(row, stale_before=stale)], len(rows), after)

    def _dlp_files(self, ctx: Context, cursor: str | None) -> Page:
        content.require_dlp(ctx, mapping.DLP_FILE.key)
        key = ctx.credentials.get("api_key")
        if not key:
            ctx.unchecked(mapping.DLP_FILE.key)
            raise Skip("Downloadable files were not scanned: add a workspace API key (Files API) to the "
                       "integration's credentials.")
        try:
            rows, after = client.files(ctx.http, key, cursor)
        except (AuthError, BadRequest, NotFound) as exc:  # the Admin key still works: the rest of the scan goes on
            ctx.unchecked(mapping.DLP_FILE.key)
            raise Skip(f"The Files API refused the workspace API key, so downloadable files were not scanned: "
                       f"{exc.message}") from None
        found = []
        for row in rows:
            if not row.get("downloadable") or not row.get("id"):
                continue  # files people uploaded cannot be downloaded again; only Claude's own output can
            size = row.get("size_bytes") if isinstance(row.get("size_bytes"), int) else None
            try:
                dlp = content.scan_file(ctx, "dlp_files", name=str(row.get("filename") or ""),
                                        mime=row.get("mime_type"), size=size,
                                        download=lambda limit, f=str(row["id"]): client.file_content(
                                            ctx.http, key, f, limit))
            except NotFound:
                continue  # deleted since it was listed
            if dlp:
                found.append(mapping.dlp_file(row, dlp=dlp))
        if after is None:
            content.warn_passed_over(ctx, "dlp_files", "Downloadable files")
        return Page(found, len(rows), after)
