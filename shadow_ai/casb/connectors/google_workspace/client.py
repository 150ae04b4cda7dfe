"""Google Workspace APIs with a service account and domain-wide delegation.

The service account signs a JWT (RS256) asking for the scopes on behalf of an admin of the domain
(``sub``) and trades it at Google's token endpoint for an access token (OAuth 2.0 JWT bearer
grant). The Directory API (``admin.googleapis.com``) then lists users (``users.list``, paged
with ``pageToken`` / ``nextPageToken``) and the OAuth tokens each user granted to third-party
applications (``tokens.list``, one call per user, not paged). Gemini licences come from the
Enterprise License Manager API (``licensing.googleapis.com``).

Sharing checks act as each user in turn (the same delegation, ``sub`` = the user, one token per
user and scope set): Drive API v3 ``files.list`` (the files the user owns, with their
permissions), Calendar API ``acl.list`` on the user's primary calendar and Gmail API
``users.settings.delegates.list``. Their scopes are optional: when delegation does not grant
one, the token endpoint answers ``unauthorized_client`` and ``ScopeNotGranted`` says which.

For DLP, the content of a shared file is read as its owner with the same ``drive.readonly``
scope: Google Docs, Sheets and Slides through ``files.export`` (Google caps an export at 10 MB),
other files through ``files.get`` with ``alt=media``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import jwt

from shadow_ai.casb.connectors.base import items
from shadow_ai.casb.connectors.bearer import use_bearer_tokens
from shadow_ai.casb.connectors.errors import AuthError, BadRequest, ConnectorError, MalformedResponse, NotFound
from shadow_ai.casb.connectors.http import VendorHTTP

HOSTS = {
    "oauth": "https://oauth2.googleapis.com",
    "admin": "https://admin.googleapis.com",
    "licensing": "https://licensing.googleapis.com",
    "www": "https://www.googleapis.com",  # Drive API v3 and Calendar API v3
    "gmail": "https://gmail.googleapis.com",
}
# The audience Google documents for service-account assertions. The key file's own token_uri is
# ignored on purpose: a credential must not decide where the console sends signed assertions.
AUDIENCE = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/"
USERS_READ = SCOPE + "admin.directory.user.readonly"
USERS_SECURITY = SCOPE + "admin.directory.user.security"
CUSTOMER_READ = SCOPE + "admin.directory.customer.readonly"
LICENSING = SCOPE + "apps.licensing"
DOMAINS_READ = SCOPE + "admin.directory.domain.readonly"
DRIVE_READ = SCOPE + "drive.readonly"
# acl.list accepts calendar, calendar.acls or calendar.acls.readonly (not calendar.readonly): the
# read-only one is enough.
CALENDAR_ACLS_READ = SCOPE + "calendar.acls.readonly"
GMAIL_SETTINGS = SCOPE + "gmail.settings.basic"
# Every file the user owns and has not trashed: a file shared with one outside address has the
# visibility "limited", so a visibility filter would miss it; unshared files are dropped here.
DRIVE_QUERY = "'me' in owners and trashed = false"
DRIVE_FIELDS = ("nextPageToken, incompleteSearch, files(id, name, mimeType, size, webViewLink, shared, "
                "permissions(id, type, role, emailAddress, domain, allowFileDiscovery, deleted))")
#: Drive files.list pages: the most Google gives; smaller when each shared file is also downloaded
#: for DLP, so one page (one checkpoint) stays a bounded amount of work.
DRIVE_PAGE = 1000
DRIVE_PAGE_DLP = 100


class ScopeNotGranted(AuthError):
    """Domain-wide delegation does not grant a scope we asked for (``unauthorized_client``)."""


def service_account(raw: str) -> dict[str, str]:
    """The service account key file (JSON), checked; ``AuthError`` says what is wrong with it."""
    try:
        data = json.loads(raw or "")
    except ValueError:
        raise AuthError("The service account key is not valid JSON: paste the whole key file downloaded from "
                        "Google Cloud (IAM › Service accounts › Keys).") from None
    if not isinstance(data, dict) or data.get("type") != "service_account":
        raise AuthError("This JSON is not a service account key (its “type” must be “service_account”).")
    missing = [k for k in ("client_email", "private_key", "client_id") if not data.get(k)]
    if missing:
        raise AuthError(f"The service account key lacks {', '.join(missing)}.")
    if "PRIVATE KEY" not in str(data["private_key"]):
        raise AuthError("The service account key's private_key is not a PEM private key.")
    return {k: str(v) for k, v in data.items() if isinstance(v, str)}


def fetch_token(http: VendorHTTP, account: Mapping[str, str], subject: str, scopes: Sequence[str]) -> str:
    now = int(time.time())
    claims = {"iss": account["client_email"], "scope": " ".join(scopes), "aud": AUDIENCE, "sub": subject,
              "iat": now, "exp": now + 3600}
    try:
        assertion = jwt.encode(claims, account["private_key"], algorithm="RS256",
                               headers={"kid": account.get("private_key_id", "")})
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise AuthError(f"The service account's private key cannot sign: {exc}.") from None
    try:
        reply = http.post("/token", host="oauth", authenticated=False,
                          data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
    except (AuthError, BadRequest, NotFound) as exc:
        kind = ScopeNotGranted if "unauthorized_client" in exc.message else AuthError
        raise kind(_token_problem(exc, account, subject, scopes), status=exc.status) from None
    token = reply.data.get("access_token") if isinstance(reply.data, Mapping) else None
    if not token:
        raise AuthError("Google's token endpoint answered without an access token.")
    return str(token)


def _token_problem(exc: ConnectorError, account: Mapping[str, str], subject: str, scopes: Sequence[str]) -> str:
    said = exc.message
    if "unauthorized_client" in said:
        return (f"Domain-wide delegation is not set up for client ID {account.get('client_id')}, or it does not "
                f"grant every scope the scan needs: {', '.join(scopes)}. Add them in the Admin console › Security › "
                "Access and data control › API controls › Domain-wide delegation.")
    if "Invalid email or User ID" in said:
        return f"{subject} is not a user of this Google Workspace: give the e-mail of a super admin to act as."
    if "Invalid JWT Signature" in said or "invalid_grant" in said:
        return ("Google refused the service account key (" + said + "). The key may have been deleted or disabled: "
                "create a new key and rotate the credentials.")
    return f"Google refused the service account: {said}"


def users_page(http: VendorHTTP, customer: str, page_token: str | None, max_results: int = 50
               ) -> tuple[list[Mapping[str, Any]], str | None]:
    params: dict[str, Any] = {"customer": customer or "my_customer", "maxResults": max_results, "orderBy": "email"}
    if page_token:
        params["pageToken"] = page_token
    reply = http.get("/admin/directory/v1/users", host="admin", params=params)
    following = reply.data.get("nextPageToken") if isinstance(reply.data, Mapping) else None
    return items(reply.data, "users"), (str(following) if following and following != page_token else None)


def user_tokens(http: VendorHTTP, user_key: str) -> list[Mapping[str, Any]]:
    """OAuth tokens the user issued to third-party applications ([] for a user gone meanwhile)."""
    try:
        reply = http.get(f"/admin/directory/v1/users/{user_key}/tokens", host="admin")
    except NotFound:
        return []
    return items(reply.data, "items") if reply.data is not None else []


def customer(http: VendorHTTP, key: str = "my_customer") -> Mapping[str, Any]:
    reply = http.get(f"/admin/directory/v1/customers/{key}", host="admin")
    if not isinstance(reply.data, Mapping) or not reply.data.get("id"):
        raise MalformedResponse("The Directory API answered without a customer id.")
    return reply.data


def licence_page(http: VendorHTTP, product: str, customer_id: str, page_token: str | None, max_results: int = 1000
                 ) -> tuple[list[Mapping[str, Any]], str | None]:
    params: dict[str, Any] = {"customerId": customer_id, "maxResults": max_results}
    if page_token:
        params["pageToken"] = page_token
    reply = http.get(f"/apps/licensing/v1/product/{product}/users", host="licensing", params=params)
    following = reply.data.get("nextPageToken") if isinstance(reply.data, Mapping) else None
    return items(reply.data, "items"), (str(following) if following and following != page_token else None)


def token_auth(ctx: Any, scopes: Sequence[str]) -> None:
    """Give ``ctx.http`` a bearer token, fetched on first use and again when Google says it
    expired: for the admin named in the config and ``scopes``, or for whoever ``acting_as``
    names. Tokens are cached per subject and scope set."""
    def who() -> tuple[str, tuple[str, ...]]:
        return ctx.cache.get("google_as") or (ctx.config.get("admin_email", ""), tuple(scopes))

    def fetch(principal: tuple[str, tuple[str, ...]]) -> str:
        account = service_account(ctx.credentials.get("service_account_json", ""))
        return fetch_token(ctx.http, account, *principal)

    # One user after another: when 16 are kept, keep the admin's tokens, not every user's.
    use_bearer_tokens(ctx, "google_tokens", fetch, key=who,
                      keep=lambda principal: principal[0] == ctx.config.get("admin_email", ""))


@contextmanager
def acting_as(ctx: Any, subject: str, scopes: Sequence[str]) -> Iterator[None]:
    """Requests inside run as ``subject`` with ``scopes`` (domain-wide delegation)."""
    previous = ctx.cache.get("google_as")
    ctx.cache["google_as"] = (subject, tuple(scopes))
    try:
        yield
    finally:
        if previous is None:
            ctx.cache.pop("google_as", None)
        else:
            ctx.cache["google_as"] = previous


def domain_rows(http: VendorHTTP, customer: str) -> list[Mapping[str, Any]]:
    """Directory API ``domains.list``: the customer's domains with their aliases (one reply, not
    paged)."""
    reply = http.get(f"/admin/directory/v1/customer/{customer or 'my_customer'}/domains", host="admin")
    return items(reply.data, "domains")


def domain_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The verified domain names and aliases of ``domain_rows``, lower case (an unverified one may
    not be the customer's at all)."""
    names = []
    for row in rows:
        if row.get("verified", True):
            names.append(str(row.get("domainName") or ""))
        names.extend(str(a.get("domainAliasName") or "") for a in row.get("domainAliases") or []
                     if isinstance(a, Mapping) and a.get("verified", True))
    return sorted({n.lower() for n in names if n})


def owned_files_page(http: VendorHTTP, page_token: str | None, page_size: int = DRIVE_PAGE
                     ) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page of the files the acting user owns, with their permissions (Drive files.list)."""
    params: dict[str, Any] = {"q": DRIVE_QUERY, "fields": DRIVE_FIELDS, "pageSize": page_size, "spaces": "drive",
                              "corpora": "user"}
    if page_token:
        params["pageToken"] = page_token
    reply = http.get("/drive/v3/files", host="www", params=params)
    following = reply.data.get("nextPageToken") if isinstance(reply.data, Mapping) else None
    return items(reply.data, "files"), (str(following) if following and following != page_token else None)


def export_file(http: VendorHTTP, file_id: str, mime_type: str, max_bytes: int) -> bytes | None:
    """A Google Docs editors file exported as ``mime_type`` (Drive files.export), or None when it
    is larger than ``max_bytes`` (nothing more is read)."""
    return http.download(f"/drive/v3/files/{quote(file_id, safe='')}/export", host="www",
                         params={"mimeType": mime_type}, max_bytes=max_bytes)


def file_content(http: VendorHTTP, file_id: str, max_bytes: int) -> bytes | None:
    """A stored (non-Google) file's bytes (Drive files.get with alt=media), or None when it is
    larger than ``max_bytes``."""
    return http.download(f"/drive/v3/files/{quote(file_id, safe='')}", host="www", params={"alt": "media"},
                         max_bytes=max_bytes)


def calendar_acl(http: VendorHTTP, calendar: str = "primary") -> list[Mapping[str, Any]]:
    """Every rule of a calendar's access control list (Calendar acl.list, all pages)."""
    rules: list[Mapping[str, Any]] = []
    page_token: str | None = None
    while True:
        params: dict[str, Any] = {"maxResults": 250}
        if page_token:
            params["pageToken"] = page_token
        reply = http.get(f"/calendar/v3/calendars/{calendar}/acl", host="www", params=params)
        rules.extend(items(reply.data, "items"))
        following = reply.data.get("nextPageToken") if isinstance(reply.data, Mapping) else None
        if not following or following == page_token:
            return rules
        page_token = str(following)


def mail_delegates(http: VendorHTTP, user: str = "me") -> list[Mapping[str, Any]]:
    """The user's mail delegates, whatever their verification status (Gmail delegates.list)."""
    reply = http.get(f"/gmail/v1/users/{user}/settings/delegates", host="gmail")
    return items(reply.data, "delegates") if reply.data is not None else []
