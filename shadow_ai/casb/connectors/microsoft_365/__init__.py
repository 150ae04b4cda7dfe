"""Microsoft 365 (Entra ID): third-party applications users or admins consented to, user account
hygiene and unverified domains, read through Microsoft Graph."""

from __future__ import annotations

from shadow_ai.casb import mailauth
from shadow_ai.casb.connectors.base import Check, Connector, Context, Field, Page, Step, check_call
from shadow_ai.casb.connectors.microsoft_365 import client, mapping

PERMISSIONS = ("Application.Read.All", "DelegatedPermissionGrant.Read.All", "User.Read.All", "Domain.Read.All")


class Microsoft365Connector(Connector):
    key = "microsoft_365"
    label = "Microsoft 365"
    vendor = "Microsoft"
    summary = "Third-party apps consented in Entra ID, user account hygiene, unverified domains."
    hosts = client.HOSTS
    finding_types = mapping.TYPES
    credential_fields = (
        Field("client_secret", "Client secret", secret=True,
              help="A client secret of the app registration (Certificates & secrets). Note its expiry date."),
    )
    config_fields = (
        Field("tenant_id", "Directory (tenant) ID", placeholder="00000000-0000-0000-0000-000000000000"),
        Field("client_id", "Application (client) ID", placeholder="00000000-0000-0000-0000-000000000000"),
    )
    requirements = (
        "An app registration in Entra ID with a client secret.",
        "Microsoft Graph application permissions, admin-consented (read-only): " + ", ".join(PERMISSIONS) + ".",
    )

    def prepare(self, ctx: Context) -> None:
        client.token_auth(ctx)

    def check(self, ctx: Context) -> list[Check]:
        results = [check_call("App registration", lambda: ctx.http.auth(),
                              "The app received a token for Microsoft Graph.")]
        if not results[0].ok:
            return results
        for name, call in (
            ("Applications (Application.Read.All)", lambda: client.service_principals(ctx.http, None, top=1)),
            ("Consent grants (DelegatedPermissionGrant.Read.All)", lambda: client.permission_grants(ctx.http, None,
                                                                                                   top=1)),
            ("Users (User.Read.All)", lambda: client.users(ctx.http, None, top=1)),
            ("Domains (Domain.Read.All)", lambda: client.domains(ctx.http, None)),
        ):
            results.append(check_call(name, call, "Readable.", failed="Missing this application permission or its "
                                      "admin consent."))
        return results

    def steps(self, ctx: Context) -> list[Step]:
        return [
            Step("applications", "Listing applications", self._applications, (mapping.APP_DISABLED.key,)),
            Step("grants", "Checking consent grants to third-party apps", self._grants,
                 tuple(t.key for t in mapping.APP_TYPES)),
            Step("users", "Checking user accounts", self._users, tuple(t.key for t in mapping.USER_TYPES)),
            Step("domains", "Checking domains", self._domains, (mapping.DOMAIN_UNVERIFIED.key,)),
            Step("mail_auth", "Checking SPF and DMARC of the verified domains", self._mail_auth,
                 tuple(t.key for t in mapping.MAIL_TYPES)),
        ]

    def _applications(self, ctx: Context, cursor: str | None) -> Page:
        rows, following = client.service_principals(ctx.http, cursor)
        apps = dict(ctx.state.get("apps", {}))
        found = []
        for row in rows:
            summary = mapping.third_party(row, tenant_id=ctx.config.get("tenant_id", ""))
            if summary:
                apps[summary["id"]] = summary
                found.extend(mapping.disabled_app(summary))
        ctx.state["apps"] = apps
        return Page(found, len(rows), following)

    def _grants(self, ctx: Context, cursor: str | None) -> Page:
        rows, following = client.permission_grants(ctx.http, cursor)
        apps = ctx.state.get("apps", {})
        names = dict(ctx.state.get("user_names", {}))
        found = []
        for row in rows:
            app = apps.get(str(row.get("clientId")))
            if app is None:
                continue
            principal = str(row.get("principalId") or "")
            if row.get("consentType") != "AllPrincipals" and principal and principal not in names:
                names[principal] = client.user_name(ctx.http, principal) or principal
            found.append(mapping.grant(row, app, names.get(principal, principal)))
        ctx.state["user_names"] = names
        return Page(found, len(rows), following)

    def _users(self, ctx: Context, cursor: str | None) -> Page:
        rows, following = client.users(ctx.http, cursor)
        limits = {"now": ctx.now, "password_before": ctx.ago(ctx.days("password_age_days", 90)),
                  "sync_before": ctx.ago(ctx.days("sync_age_days", 7))}
        return Page([o for row in rows for o in mapping.user(row, **limits)], len(rows), following)

    def _domains(self, ctx: Context, cursor: str | None) -> Page:
        rows, following = client.domains(ctx.http, cursor)
        return Page([o for row in rows for o in mapping.domain(row)], len(rows), following)

    def _mail_auth(self, ctx: Context, cursor: str | None) -> Page:
        return mailauth.domains_page(ctx, cursor, list_domains=lambda: self._mail_domains(ctx),
                                     types=mapping.MAIL_PROBLEMS)

    def _mail_domains(self, ctx: Context) -> list[str]:
        """All pages of Graph ``/domains`` (the "Domain not verified" step's list; Domain.Read.All)."""
        names, link = [], None
        while True:
            rows, link = client.domains(ctx.http, link)
            names.extend(mapping.mail_domains(rows))
            if not link:
                return names
