"""GitHub: organization settings, members without two-factor authentication, installed apps,
personal access tokens with access to the organization, and repositories' default branches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shadow_ai.casb.connectors.base import Check, Connector, Context, Field, Page, Skip, Step, check_call
from shadow_ai.casb.connectors.errors import AuthError, BadRequest, NotFound
from shadow_ai.casb.connectors.github import client, mapping

APP_PERMISSIONS = ("Administration: read", "Members: read", "Metadata: read", "Organization administration: read",
                   "Personal access tokens: read")


class GitHubConnector(Connector):
    key = "github"
    label = "GitHub"
    vendor = "GitHub"
    summary = "Organization 2FA and base permission, members, installed apps, tokens, branch protection."
    hosts = client.HOSTS
    finding_types = mapping.TYPES
    credential_fields = (
        Field("private_key", "GitHub App private key (PEM)", secret=True, multiline=True,
              help="Generated in the app's settings (Private keys › Generate a private key)."),
    )
    config_fields = (
        Field("organization", "Organization", placeholder="acme", help="The organization's login (its URL name)."),
        Field("app_id", "App ID", placeholder="123456"),
        Field("installation_id", "Installation ID", placeholder="7654321",
              help="The number at the end of the installation's settings URL."),
    )
    requirements = (
        "A GitHub App owned by the organization (created by an Owner or GitHub App manager), installed on it "
        "with access to all repositories.",
        "Read-only app permissions: " + ", ".join(APP_PERMISSIONS) + ".",
        "Credential authorizations are listed only for organizations with SAML single sign-on (Enterprise Cloud).",
        "Optional: GitHub shows who may bypass a ruleset only to those who may edit it (“Administration”, write, "
        "for organization and repository rulesets); without it, admin restrictions set by rulesets are not checked.",
    )

    def http_options(self, credentials: Mapping[str, str], config: Mapping[str, Any]) -> dict[str, Any]:
        return {"headers": client.HEADERS}

    def prepare(self, ctx: Context) -> None:
        client.token_auth(ctx)

    def _org(self, ctx: Context) -> str:
        return str(ctx.config.get("organization", "")).strip()

    def check(self, ctx: Context) -> list[Check]:
        results = [check_call("GitHub App installation", lambda: ctx.http.auth(),
                              "The app received an installation token.")]
        if not results[0].ok:
            return results
        org = self._org(ctx)
        results.append(check_call("Organization", lambda: client.organization(ctx.http, org),
                                  lambda data: f"{data.get('login')} is readable.",
                                  failed=f"The organization {org!r} is not readable by this installation."))
        results.append(check_call("Members (Members: read)", lambda: client.members_without_2fa(ctx.http, org, None),
                                  "Readable.", required=False, failed="Members without 2FA cannot be checked."))
        results.append(check_call("Repositories (Administration: read)",
                                  lambda: client.repositories(ctx.http, org, None, per_page=1), "Readable."))
        results.append(check_call("Personal access tokens", lambda: client.fine_grained_tokens(ctx.http, org, None),
                                  "Readable.", required=False,
                                  failed="Fine-grained tokens cannot be listed without the “Personal access tokens: "
                                         "read” organization permission."))
        results.append(check_call("Organization rulesets (Administration: write)",
                                  lambda: client.organization_rulesets(ctx.http, org),
                                  "Readable: who may bypass organization rulesets is checked.", required=False,
                                  failed="Who may bypass organization rulesets cannot be read (GitHub shows it only "
                                         "with the “Administration” organization permission, write): admin "
                                         "restrictions set by rulesets are left unchecked, not guessed."))
        return results

    def steps(self, ctx: Context) -> list[Step]:
        return [
            Step("organization", "Checking organization settings", self._organization,
                 (mapping.ORG_2FA.key, mapping.DEFAULT_WRITE.key)),
            Step("members", "Checking members' two-factor authentication", self._members, (mapping.USER_2FA.key,)),
            Step("installations", "Checking installed GitHub Apps", self._installations,
                 (mapping.APP_ORG_ADMIN.key, mapping.APP_WRITE_ALL.key)),
            Step("tokens", "Checking fine-grained personal access tokens", self._tokens,
                 (mapping.PAT_NO_EXPIRY.key, mapping.PAT_UNUSED.key)),
            Step("credentials", "Checking SSO-authorized tokens", self._credentials),
            Step("repositories", "Checking repositories", self._repositories,
                 tuple(t.key for t in mapping.REPO_TYPES)),
        ]

    def _organization(self, ctx: Context, cursor: str | None) -> Page:
        found, unchecked = mapping.organization(client.organization(ctx.http, self._org(ctx)))
        ctx.unchecked(*unchecked)
        return Page(found, 1, None)

    def _members(self, ctx: Context, cursor: str | None) -> Page:
        try:
            rows, following = client.members_without_2fa(ctx.http, self._org(ctx), cursor)
        except (BadRequest, AuthError) as exc:
            if isinstance(exc, AuthError) and exc.status != 403:
                raise
            raise Skip(f"Members without two-factor authentication could not be listed: {exc.message}") from None
        return Page([mapping.member_without_2fa(r) for r in rows], len(rows), following)

    def _installations(self, ctx: Context, cursor: str | None) -> Page:
        rows, following = client.installations(ctx.http, self._org(ctx), cursor)
        own = str(ctx.config.get("installation_id", ""))
        found = [o for row in rows if str(row.get("id")) != own for o in mapping.installation(row)]
        return Page(found, len(rows), following)

    def _tokens(self, ctx: Context, cursor: str | None) -> Page:
        try:
            rows, following = client.fine_grained_tokens(ctx.http, self._org(ctx), cursor)
        except (AuthError, NotFound, BadRequest) as exc:
            if isinstance(exc, AuthError) and exc.status != 403:
                raise
            ctx.unchecked(mapping.PAT_NO_EXPIRY.key, mapping.PAT_UNUSED.key)
            raise Skip(f"Fine-grained personal access tokens could not be listed: {exc.message}") from None
        unused = ctx.ago(ctx.days("unused_days", 30))
        found = [o for row in rows for o in mapping.fine_grained_token(row, unused_before=unused)]
        return Page(found, len(rows), following)

    def _credentials(self, ctx: Context, cursor: str | None) -> Page:
        try:
            rows, following = client.credential_authorizations(ctx.http, self._org(ctx), cursor)
        except (AuthError, NotFound, BadRequest) as exc:
            if isinstance(exc, AuthError) and exc.status != 403:
                raise
            if not isinstance(exc, NotFound):
                ctx.unchecked(mapping.PAT_NO_EXPIRY.key, mapping.PAT_UNUSED.key)
            raise Skip("SSO-authorized tokens were not checked: the organization does not use SAML single sign-on "
                       f"or the app cannot list them ({exc.message})") from None
        unused = ctx.ago(ctx.days("unused_days", 30))
        found = [o for row in rows for o in mapping.credential(row, unused_before=unused)]
        return Page(found, len(rows), following)

    def _repositories(self, ctx: Context, cursor: str | None) -> Page:
        rows, following = client.repositories(ctx.http, self._org(ctx), cursor)
        stale = ctx.ago(ctx.days("stale_repository_days", 365))
        found = []
        for repo in rows:
            if repo.get("archived"):
                continue
            found.extend(mapping.repository_age(repo, stale_before=stale))
            if ctx.state.get("protection_unavailable") or not repo.get("default_branch"):
                continue
            protection = self._protection(ctx, str(repo.get("full_name")), str(repo["default_branch"]))
            if protection is None:
                continue
            observations, undecided = mapping.repository_protection(repo, protection)
            found.extend(observations)
            if undecided:
                ctx.unchecked(*undecided)
                if not ctx.state.get("bypass_hidden_warned"):
                    ctx.state["bypass_hidden_warned"] = True
                    ctx.warn("Some rulesets' bypass lists are not visible to the app (GitHub shows them only to "
                             "those who may edit the ruleset), so admin restrictions set by rulesets were not "
                             f"checked (first: {repo.get('full_name')}).")
        return Page(found, len(rows), following)

    def _protection(self, ctx: Context, full_name: str, branch: str) -> mapping.Protection | None:
        """The default branch's classic protection rule and active rules, or None (and its types left
        as they were for the rest of the scan) when GitHub refuses to show them."""
        try:
            classic = client.branch_protection(ctx.http, full_name, branch)
            rules = client.branch_rules(ctx.http, full_name, branch)
        except AuthError as exc:
            if exc.status != 403:
                raise
            ctx.state["protection_unavailable"] = True
            ctx.unchecked(*(t.key for t in mapping.PROTECTION_TYPES))
            ctx.warn(f"Branch protection could not be read ({exc.message}); it was not checked.")
            return None
        return mapping.Protection(classic, rules, {r.get("ruleset_id"): self._ruleset(ctx, r) for r in rules})

    def _ruleset(self, ctx: Context, rule: Mapping[str, Any]) -> dict[str, Any]:
        """A ruleset's summary, read once per scan: organization rulesets apply to many repositories."""
        cache = ctx.cache.setdefault("github_rulesets", {})
        source_type, source = str(rule.get("ruleset_source_type") or ""), str(rule.get("ruleset_source") or "")
        key = (source_type, source, rule.get("ruleset_id"))
        if key not in cache:
            found = client.ruleset(ctx.http, source_type, source, rule.get("ruleset_id")) \
                if rule.get("ruleset_id") is not None and source else None
            cache[key] = mapping.ruleset_summary(rule, found)
        return cache[key]
