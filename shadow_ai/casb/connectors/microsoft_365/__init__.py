"""Microsoft 365 (Entra ID): third-party applications users or admins consented to, user account
hygiene, authentication methods, unverified domains, expiring app certificates, inbox rules that
send mail outside, calendars shared outside, and OneDrive / SharePoint items shared with anyone or
the whole organization by a sharing link, read through Microsoft Graph.

"Outside" means an address at a domain that is not one of the tenant's verified domains (read once
per scan into ``ctx.state``). The permissions for authentication methods, mailbox settings,
calendars, OneDrive and SharePoint are optional: without one, its step is skipped and its finding
types keep their state."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from shadow_ai.casb import mailauth
from shadow_ai.casb.connectors.base import Check, Connector, Context, Field, Observation, Page, Skip, Step, check_call
from shadow_ai.casb.connectors.errors import AuthError, BadRequest, ConnectorError, NotFound
from shadow_ai.casb.connectors.microsoft_365 import client, mapping

PERMISSIONS = ("Application.Read.All", "DelegatedPermissionGrant.Read.All", "User.Read.All", "Domain.Read.All")
#: Optional permissions: each one's step is skipped without it (see ``_per_user``).
AUTH_METHODS, MAILBOX, CALENDARS = "UserAuthenticationMethod.Read.All", "MailboxSettings.Read", "Calendars.Read"
FILES, SITES = "Files.Read.All", "Sites.Read.All"
OPTIONAL_PERMISSIONS = (AUTH_METHODS, MAILBOX, CALENDARS, FILES, SITES)
SHARING_TYPES = tuple(t.key for t in mapping.SHARING_TYPES)


class Microsoft365Connector(Connector):
    key = "microsoft_365"
    label = "Microsoft 365"
    vendor = "Microsoft"
    summary = ("Third-party apps consented in Entra ID, account hygiene and authentication methods, domains, "
               "expiring app certificates, external mail forwarding, calendar sharing, and OneDrive and SharePoint "
               "files shared publicly or company-wide.")
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
        "Optional, for authentication methods, inbox rules, calendar sharing, OneDrive sharing and SharePoint "
        "sharing: " + ", ".join(OPTIONAL_PERMISSIONS) + ".",
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
        results.append(_optional_check(ctx, f"OneDrive sharing ({FILES}, optional)", FILES, _try_drive,
                                       mailbox or anyone))
        results.append(_optional_check(ctx, f"SharePoint sharing ({SITES}, optional)", SITES,
                                       lambda http, _: client.sites(http, None), "tenant"))
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
            Step("onedrive_sharing", "Checking OneDrive sharing links", self._onedrive_sharing, SHARING_TYPES),
            Step("sharepoint_sharing", "Checking SharePoint sharing links", self._sharepoint_sharing, SHARING_TYPES),
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

    def _onedrive_sharing(self, ctx: Context, cursor: str | None) -> Page:
        def containers(link: str | None) -> tuple[list[Mapping[str, Any]], str | None]:
            return client.users(ctx.http, link, top=client.PER_USER_PAGE, fields=client.PER_USER_FIELDS)

        def drives_of(row: Mapping[str, Any]) -> list[dict[str, Any]]:
            if row.get("userType") == "Guest":
                return []  # a guest's OneDrive is in their own tenant
            drive = client.user_drive(ctx.http, str(row.get("id")))
            return [mapping.drive_summary(drive, owner=str(row.get("userPrincipalName") or row.get("id")),
                                          kind="OneDrive")] if drive else []

        return _drive_walk(ctx, cursor, step="onedrive_sharing", permission=FILES, what="OneDrive",
                           containers=containers, drives_of=drives_of)

    def _sharepoint_sharing(self, ctx: Context, cursor: str | None) -> Page:
        def drives_of(site: Mapping[str, Any]) -> list[dict[str, Any]]:
            if _personal_site(site):
                return []  # a OneDrive: read in the OneDrive step, with its owner
            name = str(site.get("displayName") or site.get("name") or site.get("webUrl") or site.get("id"))
            return [mapping.drive_summary(d, owner=name, kind="SharePoint", site=name,
                                          site_url=str(site.get("webUrl") or ""))
                    for d in client.site_drives(ctx.http, str(site.get("id")))
                    if d.get("driveType", "documentLibrary") == "documentLibrary"]

        return _drive_walk(ctx, cursor, step="sharepoint_sharing", permission=SITES, what="SharePoint",
                           containers=lambda link: client.sites(ctx.http, link), drives_of=drives_of)

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


def _personal_site(site: Mapping[str, Any]) -> bool:
    if site.get("isPersonalSite") is not None:
        return site.get("isPersonalSite") is True
    return "-my.sharepoint." in str(site.get("webUrl") or "")


def _try_drive(http: Any, user_id: str) -> None:
    client.user_drive(http, user_id)  # 404 (no OneDrive) still shows the permission works


# --- Sharing links: every drive, every item, page by page ----------------------------------------

Drives = Callable[[Mapping[str, Any]], list[dict[str, Any]]]
Containers = Callable[[str | None], tuple[list[Mapping[str, Any]], str | None]]


def _walk_cursor(page: str | None, index: int = 0, drives: list | None = None, drive: int = 0,
                 delta: str | None = None) -> str:
    return json.dumps({"page": page, "i": index, "drives": drives, "j": drive, "delta": delta}, separators=(",", ":"))


def _walk_position(cursor: str | None) -> dict[str, Any]:
    """Where a sharing walk stands: the page of containers (users or sites; its link, None for the
    first), the container's place on it, that container's drives (found once), the drive's place
    among them and the drive's delta page link (None for its first page). An unreadable cursor
    starts over."""
    try:
        data = json.loads(cursor or "{}")
        drives = data.get("drives")
        return {"page": data.get("page") or None, "i": max(0, int(data.get("i") or 0)),
                "drives": drives if isinstance(drives, list) else None, "j": max(0, int(data.get("j") or 0)),
                "delta": data.get("delta") or None}
    except (ValueError, TypeError, AttributeError):
        return {"page": None, "i": 0, "drives": None, "j": 0, "delta": None}


def _refused(ctx: Context, exc: AuthError, *, step: str, permission: str, what: str) -> None:
    """A 403 in a sharing walk. Before anything was read it means the app lacks ``permission``:
    the step is skipped. Later it is one drive or site the app may not read (a site with
    restricted access): passed over, the step's types are not resolved this scan, the admin is told
    once."""
    if exc.status != 403:
        raise exc
    ctx.unchecked(*SHARING_TYPES)
    if not ctx.state.get(f"{step}_read"):
        raise Skip(f"The app lacks the optional {permission} application permission (or its admin consent), so "
                   f"{what} sharing links were not checked. {exc.message}") from None
    if not ctx.state.get(f"{step}_restricted"):
        ctx.state[f"{step}_restricted"] = True
        ctx.warn(f"Some {what} drives or items could not be read ({permission}); they were not checked and earlier "
                 f"sharing findings are kept. {exc.message}")


def _containers(ctx: Context, step: str, link: str | None, read: Containers, permission: str, what: str
                ) -> tuple[list[Mapping[str, Any]], str | None]:
    """A page of users or sites, read once per process (each of its drives takes several pages)."""
    cached = ctx.cache.get(f"{step}_containers")
    if cached and cached[0] == link:
        return cached[1], cached[2]
    try:
        rows, following = read(link)
    except AuthError as exc:
        if exc.status != 403:
            raise
        ctx.unchecked(*SHARING_TYPES)
        raise Skip(f"The app lacks the optional {permission} application permission (or its admin consent), so "
                   f"{what} sharing links were not checked. {exc.message}") from None
    ctx.cache[f"{step}_containers"] = (link, rows, following)
    return rows, following


def _drive_walk(ctx: Context, cursor: str | None, *, step: str, permission: str, what: str, containers: Containers,
                drives_of: Drives) -> Page:
    """One page of a sharing check: the next delta page of the current drive, with one permissions
    call per item on it that may be shared with anyone or the whole organization. Drives are found
    per container (a user's OneDrive, a site's document libraries) when the walk reaches it, so
    the cursor stays small; deleted items and items without a sharing link cost nothing."""
    pos = _walk_position(cursor)
    rows, following = _containers(ctx, step, pos["page"], containers, permission, what)
    while pos["i"] < len(rows):
        if pos["drives"] is None:
            try:
                pos["drives"] = drives_of(rows[pos["i"]])
                if pos["drives"]:
                    ctx.state[f"{step}_read"] = True
            except NotFound:
                pos["drives"] = []  # the user or site is gone since the listing
            except AuthError as exc:
                _refused(ctx, exc, step=step, permission=permission, what=what)
                pos["drives"] = []
            pos["j"], pos["delta"] = 0, None
        if pos["j"] < len(pos["drives"]):
            found, assets = _delta_page(ctx, pos, step=step, permission=permission, what=what)
            return Page(found, assets, _after_drive_page(pos, len(rows), following))
        pos["i"], pos["drives"], pos["j"], pos["delta"] = pos["i"] + 1, None, 0, None
    return Page([], 0, _walk_cursor(following) if following else None)


def _after_drive_page(pos: dict[str, Any], containers: int, following: str | None) -> str | None:
    if pos["delta"]:
        return _walk_cursor(pos["page"], pos["i"], pos["drives"], pos["j"], pos["delta"])
    if pos["j"] + 1 < len(pos["drives"]):
        return _walk_cursor(pos["page"], pos["i"], pos["drives"], pos["j"] + 1)
    if pos["i"] + 1 < containers:
        return _walk_cursor(pos["page"], pos["i"] + 1)
    return _walk_cursor(following) if following else None


def _delta_page(ctx: Context, pos: dict[str, Any], *, step: str, permission: str, what: str
                ) -> tuple[list[Observation], int]:
    """Read one delta page of ``pos``'s drive and leave the next page's link in ``pos["delta"]``
    (None once the drive is done)."""
    drive = pos["drives"][pos["j"]]
    try:
        rows, pos["delta"] = client.drive_delta(ctx.http, drive["id"], pos["delta"])
    except NotFound:
        pos["delta"] = None  # the drive was deleted since it was listed
        return [], 0
    except BadRequest as exc:
        if exc.status != 410 or not pos["delta"]:
            raise
        pos["delta"] = None  # the page link expired (a long pause): enumerate the drive again
        return [], 0
    except AuthError as exc:
        _refused(ctx, exc, step=step, permission=permission, what=what)
        pos["delta"] = None
        return [], 0
    ctx.state[f"{step}_read"] = True
    found: list[Observation] = []
    for item in rows:
        if not mapping.needs_permissions(item):
            continue
        try:
            permissions = client.item_permissions(ctx.http, drive["id"], str(item["id"]))
        except NotFound:
            continue  # deleted since the page was read
        except AuthError as exc:
            _refused(ctx, exc, step=step, permission=permission, what=what)
            continue
        found.extend(mapping.shared_item(drive, item, permissions, now=ctx.now))
    return found, len(rows)


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
