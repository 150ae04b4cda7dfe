"""Google Workspace: users (2-Step Verification, recovery, inactivity, suspension) and the
third-party applications they authorized with OAuth."""

from __future__ import annotations

from shadow_ai.casb import mailauth
from shadow_ai.casb.connectors.base import Check, Connector, Context, Field, Page, Skip, Step, check_call
from shadow_ai.casb.connectors.errors import AuthError
from shadow_ai.casb.connectors.google_workspace import client, mapping

SA_HELP = ("The JSON key of a service account with domain-wide delegation (Google Cloud › IAM › Service accounts › "
           "Keys). Authorize its client ID for the scopes listed on this page in the Admin console › Security › "
           "API controls › Domain-wide delegation.")


class GoogleWorkspaceConnector(Connector):
    key = "google_workspace"
    label = "Google Workspace"
    vendor = "Google"
    summary = "Users' 2-Step Verification, recovery options, inactivity; third-party apps authorized with OAuth."
    hosts = client.HOSTS
    finding_types = mapping.TYPES
    scopes = (client.USERS_READ, client.USERS_SECURITY)
    credential_fields = (
        Field("service_account_json", "Service account key (JSON)", secret=True, multiline=True, help=SA_HELP),
    )
    config_fields = (
        Field("admin_email", "Admin to act as", placeholder="admin@example.com",
              help="A super admin of the domain; the service account reads the directory on their behalf."),
        Field("customer_id", "Customer ID", required=False, default="my_customer",
              help="Leave “my_customer” for the admin's own account."),
    )
    requirements = (
        "A Google Cloud service account with a JSON key and domain-wide delegation.",
        "Delegated scopes: " + ", ".join(scopes) + ".",
        "A super admin e-mail for the service account to act as.",
        f"Optional delegated scope, for SPF and DMARC of the domains: {client.DOMAINS_READ}.",
    )

    def prepare(self, ctx: Context) -> None:
        client.token_auth(ctx, self.scopes)

    def check(self, ctx: Context) -> list[Check]:
        customer = ctx.config.get("customer_id") or "my_customer"
        results = [check_call("Service account and delegation", lambda: ctx.http.auth(),
                              "The service account received a token for the delegated scopes.")]
        if not results[0].ok:
            return results
        results.append(check_call("Users (admin.directory.user.readonly)",
                                  lambda: client.users_page(ctx.http, customer, None, max_results=1),
                                  "The directory's users are readable."))
        admin = ctx.config.get("admin_email", "")
        results.append(check_call("OAuth tokens (admin.directory.user.security)",
                                  lambda: client.user_tokens(ctx.http, admin),
                                  "Third-party app authorizations are readable."))
        results.append(check_call("Domains (admin.directory.domain.readonly, optional)",
                                  lambda: client.domains(ctx.http, customer, client.domain_token(ctx)),
                                  lambda rows: f"{len(mapping.mail_domains(rows))} verified domain(s): SPF and DMARC "
                                  "are checked.", required=False,
                                  failed="Without it SPF and DMARC of the domains are not checked."))
        return results

    def steps(self, ctx: Context) -> list[Step]:
        return [Step("users", "Checking users and the apps they authorized", self._users,
                     tuple(t.key for t in mapping.USER_TYPES + mapping.APP_TYPES)),
                Step("mail_auth", "Checking SPF and DMARC of the domains", self._mail_auth,
                     tuple(t.key for t in mapping.MAIL_TYPES))]

    def _users(self, ctx: Context, cursor: str | None) -> Page:
        rows, following = client.users_page(ctx.http, ctx.config.get("customer_id") or "my_customer", cursor)
        before = ctx.ago(ctx.days("inactive_days", 30))
        found = []
        for row in rows:
            found.extend(mapping.user(row, inactive_before=before))
            if not row.get("suspended") and row.get("id"):
                found.extend(mapping.tokens(row, client.user_tokens(ctx.http, str(row["id"]))))
        return Page(found, len(rows), following)

    def _mail_auth(self, ctx: Context, cursor: str | None) -> Page:
        return mailauth.domains_page(ctx, cursor, list_domains=lambda: self._mail_domains(ctx),
                                     types=mapping.MAIL_PROBLEMS)

    def _mail_domains(self, ctx: Context) -> list[str]:
        customer = ctx.config.get("customer_id") or "my_customer"
        for attempt in (1, 2):
            try:
                token = client.domain_token(ctx)
            except AuthError as exc:
                raise Skip(f"SPF and DMARC were not checked: {exc.message}") from None
            try:
                return mapping.mail_domains(client.domains(ctx.http, customer, token))
            except AuthError as exc:
                if exc.status == 401 and attempt == 1:  # the token expired: get a new one, once
                    ctx.cache.pop("google_domain_token", None)
                    continue
                raise Skip(f"The domains could not be listed, so SPF and DMARC were not checked: {exc.message}") \
                    from None
        return []
