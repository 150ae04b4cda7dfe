"""Microsoft 365 (Entra ID): third-party applications users or admins consented to, user account
hygiene, authentication methods, unverified domains, expiring app certificates, inbox rules that
send mail outside and calendars shared outside, read through Microsoft Graph.

"Outside" means an address at a domain that is not one of the tenant's verified domains (read once
per scan into ``ctx.state``). The permissions for authentication methods, mailbox settings and
calendars are optional: without one, its step is skipped and its finding types keep their state."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shadow_ai.casb import mailauth
from shadow_ai.casb.connectors.base import Check, Connector, Context, Field, Observation, Page, Skip, Step, check_call
from shadow_ai.casb.connectors.errors import AuthError, ConnectorError, NotFound
from shadow_ai.casb.connectors.microsoft_365 import client, mapping

PERMISSIONS = ("Application.Read.All", "DelegatedPermissionGrant.Read.All", "User.Read.All", "Domain.Read.All")
#: Optional permissions: each one's step is skipped without it (see ``_per_user``).
AUTH_METHODS, MAILBOX, CALENDARS = "UserAuthenticationMethod.Read.All", "MailboxSettings.Read", "Calendars.Read"
OPTIONAL_PERMISSIONS = (AUTH_METHODS, MAILBOX, CALENDARS)


class Microsoft365Connector(Connector):
    key = "microsoft_365"
    label = "Microsoft 365"
    vendor = "Microsoft"
    summary = ("Third-party apps consented in Entra ID, account hygiene and authentication methods, domains, "
               "expiring app certificates, external mail forwarding and calendar sharing.")
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
        "Optional, for authentication methods, inbox rules and calendar sharing: " + ", ".join(OPTIONAL_PERMISSIONS)
        + ".",
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
        if not any(c.ok for c in results if c.name.startswith("Users")):
            return results  # nothing to try the per-user permissions on
        anyone, mailbox = self._sample_users(ctx)
        for label, permission, call, user_id in (
            ("Authentication methods", AUTH_METHODS, client.authentication_methods, anyone),
            ("Inbox rules", MAILBOX, client.inbox_rules, mailbox),
            ("Calendar sharing", CALENDARS, client.calendar_permissions, mailbox),
        ):
            results.append(_optional_check(ctx, f"{label} ({permission}, optional)", permission, call, user_id))
        return results

    def _sample_users(self, ctx: Context) -> tuple[str, str]:
        """Any user and a member with a mailbox, to try the per-user permissions on."""
        try:
            rows, _ = client.users(ctx.http, None, top=25, fields=client.PER_USER_FIELDS)
        except ConnectorError:
            return "", ""
        anyone = str(rows[0].get("id") or "") if rows else ""
        return anyone, next((str(r.get("id")) for r in rows if _has_mailbox(r)), "")

    def steps(self, ctx: Context) -> list[Step]:
        # New steps go at the end: a scan resumed after an upgrade keeps its step index.
        return [
            Step("applications", "Listing applications", self._applications, (mapping.APP_DISABLED.key,)),
            Step("grants", "Checking consent grants to third-party apps", self._grants,
                 tuple(t.key for t in mapping.APP_TYPES)),
            Step("users", "Checking user accounts", self._users, tuple(t.key for t in mapping.USER_TYPES)),
            Step("domains", "Checking domains", self._domains, (mapping.DOMAIN_UNVERIFIED.key,)),
            Step("certificates", "Checking app registration certificates", self._certificates,
                 (mapping.CERT_EXPIRING.key,)),
            Step("auth_methods", "Checking authentication methods", self._auth_methods,
                 tuple(t.key for t in mapping.AUTH_METHOD_TYPES)),
            Step("inbox_rules", "Checking inbox rules for external forwarding", self._inbox_rules,
                 tuple(t.key for t in mapping.RULE_TYPES)),
            Step("calendars", "Checking calendar sharing", self._calendars, (mapping.CALENDAR_EXTERNAL.key,)),
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
        verified = _verified(ctx)
        found = [o for row in rows for o in (*mapping.user(row, **limits), *mapping.proxy_addresses(row, verified))]
        return Page(found, len(rows), following)

    def _domains(self, ctx: Context, cursor: str | None) -> Page:
        rows, following = client.domains(ctx.http, cursor)
        return Page([o for row in rows for o in mapping.domain(row)], len(rows), following)

    def _certificates(self, ctx: Context, cursor: str | None) -> Page:
        rows, following = client.applications(ctx.http, cursor)
        found = [o for row in rows for o in mapping.expiring_certificates(row, now=ctx.now)]
        return Page(found, len(rows), following)

    def _auth_methods(self, ctx: Context, cursor: str | None) -> Page:
        return _per_user(ctx, cursor, step="auth_methods", permission=AUTH_METHODS,
                         types=mapping.AUTH_METHOD_TYPES, mailbox=False, read=client.authentication_methods,
                         judge=lambda row, rows: mapping.authentication_methods(row, rows, now=ctx.now))

    def _inbox_rules(self, ctx: Context, cursor: str | None) -> Page:
        verified = _verified(ctx)
        return _per_user(ctx, cursor, step="inbox_rules", permission=MAILBOX, types=mapping.RULE_TYPES,
                         mailbox=True, read=client.inbox_rules,
                         judge=lambda row, rows: mapping.inbox_rules(row, rows, verified))

    def _calendars(self, ctx: Context, cursor: str | None) -> Page:
        verified = _verified(ctx)
        return _per_user(ctx, cursor, step="calendars", permission=CALENDARS, types=(mapping.CALENDAR_EXTERNAL,),
                         mailbox=True, read=client.calendar_permissions,
                         judge=lambda row, rows: mapping.calendar_sharing(row, rows, verified))


    def _mail_auth(self, ctx: Context, cursor: str | None) -> Page:
        return mailauth.domains_page(ctx, cursor, list_domains=lambda: self._mail_domains(ctx),
                                     types=mapping.MAIL_PROBLEMS)

    def _mail_domains(self, ctx: Context) -> list[str]:
        """The verified domains (Graph ``/domains``, Domain.Read.All), without the *.onmicrosoft.com
        ones: Microsoft runs their DNS."""
        return [name for name in sorted(_verified(ctx)) if not name.endswith(".onmicrosoft.com")]


def _has_mailbox(row: Mapping[str, Any]) -> bool:
    """Exchange sets ``mail`` when it creates a mailbox; guests' ``mail`` is their own address elsewhere."""
    return bool(row.get("mail")) and row.get("userType") != "Guest"


def _verified(ctx: Context) -> frozenset[str]:
    """The tenant's verified domains, read once per scan and checkpointed with the cursor."""
    if "verified_domains" not in ctx.state:
        rows, following = client.domains(ctx.http, None)
        while following:
            more, following = client.domains(ctx.http, following)
            rows.extend(more)
        ctx.state["verified_domains"] = mapping.verified_domains(rows)
    return frozenset(ctx.state["verified_domains"])


def _per_user(ctx: Context, cursor: str | None, *, step: str, permission: str, types: tuple, mailbox: bool,
              read: Callable[[Any, str], list[Mapping[str, Any]]],
              judge: Callable[[Mapping[str, Any], list[Mapping[str, Any]]], list[Observation]]) -> Page:
    """One page of users (the cursor is the users' ``@odata.nextLink``) and one read per user.

    A 403 before any user could be read means the app lacks ``permission``: the step is skipped
    and its types keep their state. A 403 after some users were read is a per-mailbox restriction
    (an Exchange application access policy or RBAC for Applications scope): that user is passed
    over, the step's types are not resolved this scan, and the admin is told once. A user without
    a mailbox (404) has nothing to check."""
    rows, following = client.users(ctx.http, cursor, top=client.PER_USER_PAGE, fields=client.PER_USER_FIELDS)
    read_ok, found = ctx.state.get(f"{step}_read", False), []
    for row in rows:
        if mailbox and not _has_mailbox(row):
            continue
        try:
            items = read(ctx.http, str(row.get("id")))
        except NotFound:
            continue
        except AuthError as exc:
            if exc.status != 403:
                raise
            ctx.unchecked(*(t.key for t in types))
            if not read_ok and "AccessPolicy" not in exc.message:
                raise Skip(f"The app lacks the optional {permission} application permission (or its admin "
                           f"consent), so these findings were not checked. {exc.message}") from None
            if not ctx.state.get(f"{step}_restricted"):
                ctx.state[f"{step}_restricted"] = True
                ctx.warn(f"Some mailboxes are outside what the app may read ({permission}); they were not "
                         f"checked and earlier findings of this kind are kept. {exc.message}")
            continue
        read_ok = ctx.state[f"{step}_read"] = True
        found.extend(judge(row, items))
    return Page(found, len(rows), following)


def _optional_check(ctx: Context, name: str, permission: str, call: Callable[[Any, str], Any], user_id: str
                    ) -> Check:
    if not user_id:
        return Check(name, False, "Could not be tried: none of the first 25 users is one to try it on (a member "
                     "with a mailbox, for mailbox permissions).", required=False)
    try:
        call(ctx.http, user_id)
    except AuthError as exc:
        return Check(name, False, f"Missing the optional {permission} application permission or its admin consent: "
                     f"these findings are not checked until it is granted. {exc.message}", required=False)
    except ConnectorError as exc:
        return Check(name, False, exc.message, required=False)
    return Check(name, True, "Readable.", required=False)
