"""Google Workspace: users (2-Step Verification, recovery, inactivity, suspension), the
third-party applications they authorized with OAuth, and — acting as each user — the files they
share (and, with DLP profiles, what those files contain), public calendars and mail delegation."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shadow_ai.casb import mailauth
from shadow_ai.casb.connectors.base import (
    Check,
    Connector,
    Context,
    DlpCheck,
    Field,
    Observation,
    Page,
    Skip,
    Step,
    check_call,
)
from shadow_ai.casb.connectors.errors import AuthError, BadRequest, NotFound
from shadow_ai.casb.connectors.google_workspace import client, mapping

SA_HELP = ("The JSON key of a service account with domain-wide delegation (Google Cloud › IAM › Service accounts › "
           "Keys). Authorize its client ID for the scopes listed on this page in the Admin console › Security › "
           "API controls › Domain-wide delegation.")
#: Per-user failures named one by one in a scan's messages; the rest are counted.
NAMED_FAILURES = 5
#: What one user's check returns: observations, assets read, and the next page inside that user.
UserResult = tuple[list[Observation], int, str | None]
#: Why a shared file's content was not scanned for DLP, as the scan's message words it.
DLP_PASSED_OVER = {
    "not_text": "not text-based (images, PDFs, archives, other Google file types)",
    "too_large": "larger than {limit}",
    "failed": "could not be downloaded (deleted meanwhile, or Google refused the download)",
}


def _keys(types: Sequence[Any]) -> tuple[str, ...]:
    return tuple(t.key for t in types)


def _cursor(users: str | None, index: int, page: str | None) -> str:
    return json.dumps({"users": users, "user": index, "page": page}, separators=(",", ":"))


def _position(cursor: str | None) -> tuple[str | None, int, str | None]:
    """Where a per-user step stands: the users.list page token, the user's index on that page and
    the page token inside that user's own listing (Drive). An unreadable cursor starts over."""
    try:
        data = json.loads(cursor or "{}")
        return data.get("users") or None, max(0, int(data.get("user") or 0)), data.get("page") or None
    except (ValueError, TypeError, AttributeError):
        return None, 0, None


def _size(count: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if count >= factor:
            return f"{count / factor:g} {unit}"
    return f"{count} bytes"


def _api_disabled(exc: AuthError | BadRequest) -> bool:
    said = exc.message
    return any(marker in said for marker in ("has not been used in project", "SERVICE_DISABLED",
                                             "accessNotConfigured"))


class GoogleWorkspaceConnector(Connector):
    key = "google_workspace"
    label = "Google Workspace"
    vendor = "Google"
    summary = ("Users' 2-Step Verification, recovery options, inactivity; third-party apps authorized with OAuth; "
               "files shared publicly or outside the company, and their content with DLP profiles; public calendars; "
               "mail delegation.")
    hosts = client.HOSTS
    finding_types = mapping.TYPES
    scopes = (client.USERS_READ, client.USERS_SECURITY)
    optional_scopes = (client.DOMAINS_READ, client.DRIVE_READ, client.CALENDAR_ACLS_READ, client.GMAIL_SETTINGS)
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
        "Optional delegated scopes (without one, its checks are skipped): " + ", ".join(optional_scopes)
        + " — file sharing (and DLP scanning of shared files' content) needs the first two, SPF and DMARC the first, "
        "public calendars the third, mail delegation the fourth.",
        "A super admin e-mail for the service account to act as.",
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

        def as_admin(scope: str, call: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> Any:
                with client.acting_as(ctx, admin, (scope,)):
                    return call()
            return run

        for name, scope, call, ok, without in (
            ("Domains (admin.directory.domain.readonly)", client.DOMAINS_READ,
             lambda: client.domain_names(client.domain_rows(ctx.http, customer)),
             lambda names: f"The company's domains: {', '.join(names)}.",
             "Without it file sharing, SPF and DMARC are not checked."),
            ("Drive files (drive.readonly)", client.DRIVE_READ, lambda: client.owned_files_page(ctx.http, None, 1),
             "Files and their sharing are readable.", "Without it file sharing is not checked."),
            ("Calendar sharing (calendar.acls.readonly)", client.CALENDAR_ACLS_READ,
             lambda: client.calendar_acl(ctx.http), "Calendar sharing is readable.",
             "Without it public calendars are not checked."),
            ("Mail delegation (gmail.settings.basic)", client.GMAIL_SETTINGS, lambda: client.mail_delegates(ctx.http),
             "Mail delegates are readable.", "Without it mail delegation is not checked."),
        ):
            results.append(check_call(name, as_admin(scope, call), ok, required=False, failed=without))
        return results

    def steps(self, ctx: Context) -> list[Step]:
        return [
            Step("users", "Checking users and the apps they authorized", self._users,
                 _keys(mapping.USER_TYPES + mapping.APP_TYPES)),
            Step("files", "Checking the files each user shares", self._files,
                 _keys(mapping.FILE_TYPES + mapping.DLP_TYPES)),
            Step("calendars", "Checking for public calendars", self._calendars, (mapping.CALENDAR_PUBLIC.key,)),
            Step("mail_delegation", "Checking mail delegation", self._delegation, (mapping.MAIL_DELEGATE.key,)),
            Step("mail_auth", "Checking SPF and DMARC of the domains", self._mail_auth, _keys(mapping.MAIL_TYPES)),
        ]

    def _users(self, ctx: Context, cursor: str | None) -> Page:
        rows, following = client.users_page(ctx.http, ctx.config.get("customer_id") or "my_customer", cursor)
        before = ctx.ago(ctx.days("inactive_days", 30))
        found = []
        for row in rows:
            found.extend(mapping.user(row, inactive_before=before))
            if not row.get("suspended") and row.get("id"):
                found.extend(mapping.tokens(row, client.user_tokens(ctx.http, str(row["id"]))))
        return Page(found, len(rows), following)

    # --- Acting as each user ---------------------------------------------------------------------

    def _files(self, ctx: Context, cursor: str | None) -> Page:
        company = self._company_domains(ctx)
        dlp = ctx.dlp
        if dlp is None:
            ctx.unchecked(*_keys(mapping.DLP_TYPES))  # no profiles: contents were not looked at
        page_size = client.DRIVE_PAGE_DLP if dlp else client.DRIVE_PAGE

        def read(row: Mapping[str, Any], page_token: str | None) -> UserResult:
            files, following = client.owned_files_page(ctx.http, page_token, page_size)
            owner = str(row.get("primaryEmail") or "")
            found: list[Observation] = []
            for item in files:
                if not item.get("shared"):
                    continue
                sharing = mapping.file_sharing(item, owner, company)
                found.extend(sharing)
                if dlp is not None and sharing:
                    found.extend(self._file_dlp(ctx, dlp, item, sharing))
            return found, len(files), following

        page = self._each_user(ctx, cursor, "files", "File sharing", client.DRIVE_READ, read,
                               _keys(mapping.FILE_TYPES + mapping.DLP_TYPES))
        if page.next_cursor is None and dlp is not None:
            self._dlp_summary(ctx, dlp)
        return page

    # --- DLP: the content of shared files --------------------------------------------------------

    def _file_dlp(self, ctx: Context, dlp: DlpCheck, row: Mapping[str, Any],
                  sharing: list[Observation]) -> list[Observation]:
        """The DLP instances of one shared file: its text read as the owner and scanned; one
        instance per audience it is shared with when a profile triggers."""
        text = self._file_text(ctx, dlp, row)
        if text is None:
            return []
        results = dlp.scan(text)
        return mapping.file_dlp(sharing, DlpCheck.details(results)) if results else []

    def _file_text(self, ctx: Context, dlp: DlpCheck, row: Mapping[str, Any]) -> str | None:
        kind = mapping.content_kind(row)
        file_id = str(row.get("id") or "")
        if kind == "folder" or not file_id:
            return None
        if kind == "binary":
            return self._passed_over(ctx, "not_text")
        size = mapping.size_of(row)
        if kind == "media" and size is not None and size > dlp.max_bytes:
            return self._passed_over(ctx, "too_large")
        try:
            if kind == "export":
                data = client.export_file(ctx.http, file_id, mapping.EXPORT_AS[mapping.mime_type(row)], dlp.max_bytes)
            else:
                data = client.file_content(ctx.http, file_id, dlp.max_bytes)
        except NotFound:
            return self._passed_over(ctx, "failed")  # deleted since files.list
        except AuthError as exc:
            if exc.status != 403:
                raise
            # fileNotDownloadable, cannotDownloadAbusiveFile, or an export over Google's 10 MB
            # ("This file is too large to be exported."); throttling 403s were retried already.
            return self._passed_over(ctx, "too_large" if "too large" in exc.message.lower() else "failed")
        except BadRequest:
            return self._passed_over(ctx, "failed")
        if data is None or len(data) > dlp.max_bytes:
            return self._passed_over(ctx, "too_large")
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16", "replace")
        return data.decode("utf-8-sig", "replace")

    def _passed_over(self, ctx: Context, why: str) -> None:
        counts = ctx.state.setdefault("files_dlp_passed_over", {})
        counts[why] = int(counts.get(why, 0)) + 1
        return None

    def _dlp_summary(self, ctx: Context, dlp: DlpCheck) -> None:
        """One message per scan: how many shared files' contents were not scanned, and why."""
        counts = {k: int(v) for k, v in (ctx.state.get("files_dlp_passed_over") or {}).items() if v}
        total = sum(counts.values())
        if not total:
            return
        parts = [f"{counts[why]} {text.format(limit=_size(dlp.max_bytes))}"
                 for why, text in DLP_PASSED_OVER.items() if counts.get(why)]
        files = "1 shared file was" if total == 1 else f"{total} shared files were"
        ctx.warn(f"DLP: {files} not scanned for sensitive data — {'; '.join(parts)}.")

    def _calendars(self, ctx: Context, cursor: str | None) -> Page:
        def read(row: Mapping[str, Any], page_token: str | None) -> UserResult:
            return mapping.public_calendar(row, client.calendar_acl(ctx.http)), 1, None

        return self._each_user(ctx, cursor, "calendars", "Public calendars", client.CALENDAR_ACLS_READ, read,
                               (mapping.CALENDAR_PUBLIC.key,))

    def _delegation(self, ctx: Context, cursor: str | None) -> Page:
        def read(row: Mapping[str, Any], page_token: str | None) -> UserResult:
            return mapping.mail_delegates(row, client.mail_delegates(ctx.http)), 1, None

        return self._each_user(ctx, cursor, "mail_delegation", "Mail delegation", client.GMAIL_SETTINGS, read,
                               (mapping.MAIL_DELEGATE.key,), mailbox=True)

    def _company_domains(self, ctx: Context) -> set[str]:
        """The customer's own domains (kept in the scan's state, so a resumed scan has them)."""
        found = ctx.state.get("company_domains")
        if found is None:
            admin = ctx.config.get("admin_email", "")
            try:
                found = client.domain_names(self._domain_rows(ctx))
            except client.ScopeNotGranted as exc:
                raise Skip(f"Without the company's domains nothing can be called “outside”. {exc.message}") from None
            if not found and "@" in admin:
                found = [admin.rpartition("@")[2].lower()]
            ctx.state["company_domains"] = found
        return set(found)

    def _user_page(self, ctx: Context, token: str | None) -> tuple[list[Mapping[str, Any]], str | None]:
        cached = ctx.cache.get("google_user_page")
        if cached and cached[0] == token:
            return cached[1], cached[2]
        rows, following = client.users_page(ctx.http, ctx.config.get("customer_id") or "my_customer", token,
                                            max_results=500)
        ctx.cache["google_user_page"] = (token, rows, following)
        return rows, following

    def _each_user(self, ctx: Context, cursor: str | None, step: str, what: str, scope: str,
                   read: Callable[[Mapping[str, Any], str | None], UserResult], types: tuple[str, ...], *,
                   mailbox: bool = False) -> Page:
        """One page of a per-user check: the next active user (or the next page of their own
        listing), read as that user. The cursor carries the users.list page, the user's place on
        it and the page inside the user's listing, so a stopped scan resumes with that user."""
        users_token, index, inner = _position(cursor)
        rows, following = self._user_page(ctx, users_token)

        def eligible(row: Mapping[str, Any]) -> bool:
            if row.get("suspended") or row.get("archived") or not row.get("primaryEmail"):
                return False
            return not (mailbox and row.get("isMailboxSetup") is False)

        while index < len(rows) and not eligible(rows[index]):
            index, inner = index + 1, None
        found: list[Observation] = []
        assets = 0
        if index < len(rows):
            row = rows[index]
            found, assets, inner = self._as_user(ctx, row, inner, step, what, scope, read, types)
            if inner:
                return Page(found, assets, _cursor(users_token, index, inner))
            index += 1
        if index < len(rows):
            return Page(found, assets, _cursor(users_token, index, None))
        if following:
            return Page(found, assets, _cursor(following, 0, None))
        failed = int(ctx.state.get(f"{step}_failed", 0))
        if failed > NAMED_FAILURES:
            ctx.warn(f"{what}: {failed} users could not be read in all ({failed - NAMED_FAILURES} not named above); "
                     "their findings of this kind were kept as they were.")
        return Page(found, assets, None)

    def _as_user(self, ctx: Context, row: Mapping[str, Any], inner: str | None, step: str, what: str, scope: str,
                 read: Callable[[Mapping[str, Any], str | None], UserResult], types: tuple[str, ...]) -> UserResult:
        email = str(row["primaryEmail"])
        try:
            with client.acting_as(ctx, email, (scope,)):
                return read(row, inner)
        except client.ScopeNotGranted as exc:
            raise Skip(f"{what} needs the delegated scope {scope}. {exc.message}") from None
        except NotFound:
            return [], 0, None  # the user was deleted since the directory was read
        except (AuthError, BadRequest) as exc:
            if _api_disabled(exc):
                raise Skip(f"{what}: the API is not enabled in the service account's Google Cloud project "
                           f"({exc.message}).") from None
            failed = int(ctx.state.get(f"{step}_failed", 0)) + 1
            ctx.state[f"{step}_failed"] = failed
            if failed <= NAMED_FAILURES:
                ctx.warn(f"{what}: could not read {email}: {exc.message} Findings of this kind are kept as they "
                         "were in this scan.")
            ctx.unchecked(*types)
            return [], 0, None

    # --- E-mail authentication of the domains (DNS) ------------------------------------------------

    def _mail_auth(self, ctx: Context, cursor: str | None) -> Page:
        return mailauth.domains_page(ctx, cursor, list_domains=lambda: self._mail_domains(ctx),
                                     types=mapping.MAIL_PROBLEMS)

    def _domain_rows(self, ctx: Context) -> list[Mapping[str, Any]]:
        """``domains.list`` as the admin with the optional domains scope, read once per scan."""
        rows = ctx.cache.get("google_domain_rows")
        if rows is None:
            with client.acting_as(ctx, ctx.config.get("admin_email", ""), (client.DOMAINS_READ,)):
                rows = client.domain_rows(ctx.http, ctx.config.get("customer_id") or "my_customer")
            ctx.cache["google_domain_rows"] = rows
        return rows

    def _mail_domains(self, ctx: Context) -> list[str]:
        """The verified domains and aliases: the names people send mail as."""
        try:
            rows = self._domain_rows(ctx)
        except client.ScopeNotGranted as exc:
            raise Skip(f"SPF and DMARC were not checked: {exc.message}") from None
        except AuthError as exc:
            raise Skip(f"The domains could not be listed, so SPF and DMARC were not checked: {exc.message}") from None
        return mapping.mail_domains(rows)
