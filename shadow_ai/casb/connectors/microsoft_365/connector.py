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
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from shadow_ai.casb import mailauth
from shadow_ai.casb.connectors.base import Check, Connector, Context, Field, Observation, Page, Skip, Step, check_call
from shadow_ai.casb.connectors.errors import AuthError, BadRequest, ConnectorError, NotFound
from shadow_ai.casb.connectors.microsoft_365 import client, mapping

PERMISSIONS = ("Application.Read.All", "DelegatedPermissionGrant.Read.All", "User.Read.All", "Domain.Read.All")
#: Optional permissions: each one's step is skipped without it (see ``_per_user``).
AUTH_METHODS, MAILBOX, CALENDARS = "UserAuthenticationMethod.Read.All", "MailboxSettings.Read", "Calendars.Read"
FILES, SITES = "Files.Read.All", "Sites.Read.All"
COPILOT = "AiEnterpriseInteraction.Read.All"
OPTIONAL_PERMISSIONS = (AUTH_METHODS, MAILBOX, CALENDARS, FILES, SITES, COPILOT)
SHARING_TYPES = tuple(t.key for t in mapping.SHARING_TYPES)
DLP_SHARING_TYPES = tuple(t.key for t in mapping.DLP_SHARING_TYPES)
COPILOT_TYPES = tuple(t.key for t in mapping.COPILOT_TYPES)
#: Downloads per page (a delta page of a drive, a page of Copilot interactions), so a page and its
#: checkpoint take seconds: files beyond it are passed over, counted, and their DLP types not resolved.
DOWNLOADS_PER_PAGE = 25
#: How far back the first scan reads Copilot interactions (later scans read from where the last
#: complete scan stopped).
COPILOT_FIRST_DAYS = 30


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
        "sharing (and the contents of widely shared files) and Copilot interactions: "
        + ", ".join(OPTIONAL_PERMISSIONS) + ".",
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
        results.append(_optional_check(ctx, f"Copilot interactions ({COPILOT}, optional)", COPILOT,
                                       _try_copilot, mailbox or anyone))
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
            Step("onedrive_sharing", "Checking OneDrive sharing links", self._onedrive_sharing,
                 SHARING_TYPES + DLP_SHARING_TYPES),
            Step("sharepoint_sharing", "Checking SharePoint sharing links", self._sharepoint_sharing,
                 SHARING_TYPES + DLP_SHARING_TYPES),
            Step("copilot", "Scanning Copilot interactions with the DLP profiles", _copilot, COPILOT_TYPES),
            Step("content_summary", "Summing up the content scan", _content_summary),
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
    ctx.unchecked(*SHARING_TYPES, *DLP_SHARING_TYPES)
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
        ctx.unchecked(*SHARING_TYPES, *DLP_SHARING_TYPES)
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
    if ctx.dlp is None:
        ctx.unchecked(*DLP_SHARING_TYPES)  # no profiles: contents are not read, earlier DLP findings kept
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
    return found + _scan_shared_files(ctx, found), len(rows)


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


def _try_copilot(http: Any, user_id: str) -> None:
    now = datetime.now(UTC)
    client.copilot_interactions(http, user_id, None, since=_graph_time(now), until=_graph_time(now))


# --- DLP: file contents and Copilot interactions -------------------------------------------------


def _count(ctx: Context, what: str, unchecked: tuple[str, ...] = ()) -> None:
    """Files passed over (``binary``, ``oversized``) or not read (``failed``, ``deferred``), told once per
    scan by the last step. Those not read leave ``unchecked`` types as they were."""
    counts = ctx.state.setdefault("content_counts", {})
    counts[what] = counts.get(what, 0) + 1
    if unchecked and what in ("failed", "deferred"):
        ctx.unchecked(*unchecked)


def _file_matches(ctx: Context, drive_id: str, item_id: str, name: str, mime: str | None, size: Any, *,
                  budget: list[int], unchecked: tuple[str, ...]) -> dict[str, Any] | None:
    """The DLP details of one file's contents, or None (no match, or not read: counted). Only text
    files no larger than ``ctx.dlp.max_bytes`` are downloaded; ``budget`` counts a page's downloads."""
    assert ctx.dlp is not None
    cache = ctx.cache.setdefault("content_results", {})
    if (drive_id, item_id) in cache:
        return cache[(drive_id, item_id)]  # one file, two audiences or two Copilot references: read once
    if not mapping.is_text_file(name, mime):
        _count(ctx, "binary")
        cache[(drive_id, item_id)] = None
        return None
    if isinstance(size, int) and size > ctx.dlp.max_bytes:
        _count(ctx, "oversized")
        cache[(drive_id, item_id)] = None
        return None
    if budget[0] <= 0:
        _count(ctx, "deferred", unchecked)
        return None
    budget[0] -= 1
    try:
        content = client.item_content(ctx.http, drive_id, item_id, max_bytes=ctx.dlp.max_bytes)
    except (NotFound, AuthError, BadRequest) as exc:
        if isinstance(exc, AuthError) and exc.status != 403:
            raise
        _count(ctx, "failed", unchecked)
        return None
    if content is None:
        _count(ctx, "oversized")
        return None
    results = ctx.dlp.scan(mapping.decode_text(content))
    cache[(drive_id, item_id)] = found = ctx.dlp.details(results) if results else None
    return found


def _scan_shared_files(ctx: Context, shared: list[Observation]) -> list[Observation]:
    """The DLP instances of the files on a delta page shared with anyone or the organization."""
    if ctx.dlp is None:
        return []
    budget, found = [DOWNLOADS_PER_PAGE], []
    for observation in shared:
        if observation.type_key not in mapping.DLP_OF:
            continue  # a folder
        d = observation.details
        matches = _file_matches(ctx, str(d["drive_id"]), str(d["item_id"]), str(d.get("name") or ""),
                                d.get("mime_type"), d.get("size"), budget=budget, unchecked=DLP_SHARING_TYPES)
        if matches:
            found.append(mapping.dlp_shared_file(observation, matches))
    return found


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _copilot_window(ctx: Context) -> tuple[str, str]:
    """Interactions created since the last complete scan (the scanner carries ``carry`` of a
    finished scan into the next as ``carried``) up to this scan's start; the first scan reads
    ``COPILOT_FIRST_DAYS`` back."""
    if "copilot_window" not in ctx.state:
        carried = ctx.state.get("carried") or {}
        since = carried.get("copilot_until") or _graph_time(ctx.ago(COPILOT_FIRST_DAYS))
        ctx.state["copilot_window"] = [since, _graph_time(ctx.now)]
        ctx.state.setdefault("carry", {})["copilot_until"] = since  # advanced only when the step completes
    since, until = ctx.state["copilot_window"]
    return since, until


def _copilot(ctx: Context, cursor: str | None) -> Page:
    """One page of one user's Copilot interactions in the scan's window: prompts and responses
    scanned with the DLP profiles, and the files they reference (when identifiable) too.

    The window only holds interactions since the last complete scan, so instances from earlier
    interactions are not seen again: the Copilot types are never resolved by a scan (``unchecked``)
    and stay until someone resolves or hides them."""
    ctx.unchecked(*COPILOT_TYPES)
    if ctx.dlp is None:
        return Page([], 0, None)  # no DLP profiles chosen: nothing to scan interactions with, nothing read
    since, until = _copilot_window(ctx)
    try:
        pos = json.loads(cursor) if cursor else {}
    except ValueError:
        pos = {}
    page, index, link = pos.get("page") or None, int(pos.get("i") or 0), pos.get("link") or None
    rows, following = client.users(ctx.http, page, top=client.PER_USER_PAGE, fields=client.PER_USER_FIELDS)
    while index < len(rows) and rows[index].get("userType") == "Guest":
        index += 1  # a guest's Copilot is in their own tenant
    if index >= len(rows):
        if following:
            return Page([], 0, json.dumps({"page": following, "i": 0}))
        ctx.state["carry"]["copilot_until"] = until
        return Page([], 0, None)
    user = rows[index]
    try:
        interactions, more = client.copilot_interactions(ctx.http, str(user.get("id")), link, since=since,
                                                         until=until)
    except NotFound:
        interactions, more = [], None  # no Copilot history for this user
    except AuthError as exc:
        if exc.status != 403:
            raise
        if not ctx.state.get("copilot_read"):
            raise Skip(f"The app lacks the optional {COPILOT} application permission (or its admin consent), so "
                       f"Copilot interactions were not scanned. {exc.message}") from None
        interactions, more = [], None
        _count(ctx, "failed")
    else:
        ctx.state["copilot_read"] = True
    found = _judge_interactions(ctx, user, interactions)
    if more:
        following_cursor = {"page": page, "i": index, "link": more}
    elif index + 1 < len(rows):
        following_cursor = {"page": page, "i": index + 1}
    elif following:
        following_cursor = {"page": following, "i": 0}
    else:
        ctx.state["carry"]["copilot_until"] = until
        return Page(found, len(interactions), None)
    return Page(found, len(interactions), json.dumps(following_cursor))


def _judge_interactions(ctx: Context, user: Mapping[str, Any], rows: list[Mapping[str, Any]]) -> list[Observation]:
    assert ctx.dlp is not None
    found: list[Observation] = []
    budget = [DOWNLOADS_PER_PAGE]
    for row in rows:
        results = ctx.dlp.scan(mapping.interaction_text(row))
        if results:
            observation = mapping.interaction(row, user, ctx.dlp.details(results))
            if observation:
                found.append(observation)
        for url, _name in mapping.referenced_files(row):
            item = _resolve_file(ctx, url)
            if item is None:
                _count(ctx, "unidentified")
                continue
            parent = item.get("parentReference") if isinstance(item.get("parentReference"), Mapping) else {}
            file_facet = item.get("file") if isinstance(item.get("file"), Mapping) else {}
            if not file_facet:
                continue  # a folder
            matches = _file_matches(ctx, str(parent.get("driveId")), str(item.get("id")), str(item.get("name") or ""),
                                    file_facet.get("mimeType"), item.get("size"), budget=budget, unchecked=())
            if matches:
                found.append(mapping.copilot_file(user, item, url, row, matches))
    return found


def _resolve_file(ctx: Context, url: str) -> Mapping[str, Any] | None:
    """The drive item a SharePoint / OneDrive file URL names: its site by path
    (``/sites/{host}:/{path}``), the document library whose address starts the URL, and the item by
    its path in that library. None when the URL names no file Graph can find for us."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host.endswith(".sharepoint.com"):
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    site_path = "/".join(segments[:2]) if segments and segments[0] in ("sites", "teams", "personal") else ""
    cache = ctx.cache.setdefault("copilot_sites", {})
    try:
        if (host, site_path) not in cache:
            site = client.site_by_path(ctx.http, host, site_path)
            cache[(host, site_path)] = client.site_drives(ctx.http, str(site["id"])) if site else []
        full = "/" + "/".join(segments)
        for drive in cache[(host, site_path)]:
            root = unquote(urlsplit(str(drive.get("webUrl") or "")).path).rstrip("/")
            if root and full.startswith(root + "/"):
                return client.item_by_path(ctx.http, str(drive.get("id")), full[len(root) + 1:])
    except (AuthError, NotFound, BadRequest) as exc:
        if isinstance(exc, AuthError) and exc.status != 403:
            raise
    return None


def _content_summary(ctx: Context, cursor: str | None) -> Page:
    """One warning per scan for the files whose contents were not scanned."""
    counts = ctx.state.pop("content_counts", {})
    words = {"binary": "not text (Office documents, PDFs, images)", "oversized": "larger than the download cap",
             "failed": "could not be read (HTTP 403 or 404)",
             "deferred": f"beyond the {DOWNLOADS_PER_PAGE} downloads allowed per page",
             "unidentified": "referenced by Copilot at an address that names no file the app can find"}
    told = [f"{counts[k]} {words[k]}" for k in words if counts.get(k)]
    if told:
        ctx.warn("Some files were not scanned with the DLP profiles: " + "; ".join(told) + ". Findings for files not "
                 "read are kept as they were.")
    return Page([], 0, None)
