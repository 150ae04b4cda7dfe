"""Replies shaped like Google's documented responses: the OAuth token endpoint (JWT bearer grant),
Directory API ``users.list`` / ``tokens.list`` / ``customers.get`` / ``domains.list``, the
Enterprise License Manager's ``licenseAssignments.listForProduct``, Drive API v3 ``files.list``
(with ``fields``), ``files.export`` and ``files.get?alt=media`` (file content, for DLP), Calendar
API ``acl.list`` and Gmail API ``users.settings.delegates.list``.

The token endpoint checks the assertion's signature against the service account's public key,
like Google does, and gives a token naming its subject and scopes, so the per-user APIs answer
only a request made as that user with that scope (as Google's do)."""

from __future__ import annotations

import functools
import json
from datetime import timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shadow_ai.casb.testing import (
    NOW,
    Request,
    Response,
    VendorServer,
    token_pages,
)

ADMIN = "root@acme.example"
SCOPE = "https://www.googleapis.com/auth/"


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_json() -> str:
    pem = _key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()).decode()
    return json.dumps({
        "type": "service_account", "project_id": "acme-casb", "private_key_id": "4f1c0ffee",
        "private_key": pem, "client_email": "casb-reader@acme-casb.iam.gserviceaccount.com",
        "client_id": "109876543210987654321", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
    })


def user_token(subject: str, scope: str) -> str:
    return f"ya29.{subject}~{scope.removeprefix(SCOPE)}"


def token_endpoint(allowed_scopes: set[str], *, subject: str = ADMIN, users: set[str] = frozenset()):
    """Google's token endpoint: verifies the signed assertion, answers like Google does. The
    admin's token is ``ya29.replay-token``; a user's (one of ``users``) is ``user_token``."""

    def handler(request: Request) -> Response:
        form = request.form
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        try:
            claims = jwt.decode(form["assertion"], _key().public_key(), algorithms=["RS256"],
                                audience="https://oauth2.googleapis.com/token")
        except jwt.PyJWTError:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        if claims.get("sub") != subject and claims.get("sub") not in users:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"})
        if not set(claims["scope"].split()) <= allowed_scopes:
            return Response(401, {"error": "unauthorized_client", "error_description": "Client is unauthorized to "
                                  "retrieve access tokens using this method, or client not authorized for any of "
                                  "the scopes requested."})
        token = "ya29.replay-token"
        if claims["sub"] != subject or set(claims["scope"].split()) & OPTIONAL_SCOPES:
            token = user_token(claims["sub"], claims["scope"])
        return Response(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    return handler


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def user(user_id: str, email: str, *, admin: bool = False, enrolled: bool = True, suspended: bool = False,
         last_login: float | None = 1, created: float = 400, recovery: bool = True) -> dict:
    body = {"kind": "admin#directory#user", "id": user_id, "etag": '"e1"', "primaryEmail": email,
            "name": {"givenName": email.split("@")[0].title(), "familyName": "Acme",
                     "fullName": f"{email.split('@')[0].title()} Acme"},
            "isAdmin": admin, "isDelegatedAdmin": False,
            "lastLoginTime": at(last_login) if last_login is not None else "1970-01-01T00:00:00.000Z",
            "creationTime": at(created), "agreedToTerms": True, "suspended": suspended, "archived": False,
            "changePasswordAtNextLogin": False, "ipWhitelisted": False, "emails": [{"address": email, "primary": True}],
            "customerId": "C03az79cb", "orgUnitPath": "/", "isMailboxSetup": True,
            "isEnrolledIn2Sv": enrolled, "isEnforcedIn2Sv": False, "includeInGlobalAddressList": True}
    if recovery:
        body["recoveryEmail"] = email.replace("@acme.example", "@home.example")
        body["recoveryPhone"] = "+15555550100"
    return body


def users() -> list[dict]:
    return [
        user("100001", ADMIN, admin=True, enrolled=False),
        user("100002", "ben@acme.example", enrolled=False, recovery=False),
        user("100003", "cleo@acme.example", last_login=90),
        user("100004", "dora@acme.example", admin=True, suspended=True),
        {**user("100005", "eli@acme.example", last_login=None, created=200), "isMailboxSetup": False},
    ]


def token(client_id: str, name: str, scopes: list[str], user_key: str, native: bool = False) -> dict:
    return {"kind": "admin#directory#token", "etag": '"t1"', "clientId": client_id, "displayText": name,
            "anonymous": False, "nativeApp": native, "userKey": user_key, "scopes": scopes}


def tokens() -> dict[str, list[dict]]:
    return {
        "100002": [
            token("1234-chatgpt.apps.googleusercontent.com", "ChatGPT",
                  [SCOPE + "drive.readonly", "openid", SCOPE + "userinfo.email"], "100002"),
            token("5678-notetaker.apps.googleusercontent.com", "Notetaker AI",
                  [SCOPE + "calendar.readonly", SCOPE + "documents.readonly"], "100002"),
        ],
        "100003": [
            token("1234-chatgpt.apps.googleusercontent.com", "ChatGPT", [SCOPE + "drive.readonly"], "100003"),
            token("9999-puzzle.apps.googleusercontent.com", "Puzzle Night", ["openid", "email", "profile"], "100003"),
            token("4242-mailer.apps.googleusercontent.com", "Mail Merge Pro", ["https://mail.google.com/"], "100003"),
        ],
    }


WORKSPACE_SCOPES = {SCOPE + "admin.directory.user.readonly", SCOPE + "admin.directory.user.security"}
DOMAINS = SCOPE + "admin.directory.domain.readonly"
DRIVE = SCOPE + "drive.readonly"
CALENDAR = SCOPE + "calendar.acls.readonly"
GMAIL = SCOPE + "gmail.settings.basic"
OPTIONAL_SCOPES = {DOMAINS, DRIVE, CALENDAR, GMAIL}
ALL_SCOPES = WORKSPACE_SCOPES | OPTIONAL_SCOPES
UNAUTHENTICATED = Response(401, {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                                           "status": "UNAUTHENTICATED"}})


def person(email: str, role: str, kind: str = "user") -> dict:
    return {"id": f"perm-{email.split('@')[0]}", "type": kind, "role": role, "emailAddress": email,
            "deleted": False}


def anyone(role: str, *, findable: bool = False) -> dict:
    return {"id": "anyone" if findable else "anyoneWithLink", "type": "anyone", "role": role,
            "allowFileDiscovery": findable}


def domain(name: str, role: str) -> dict:
    return {"id": f"{name}-domain", "type": "domain", "role": role, "domain": name, "allowFileDiscovery": False}


def drive_file(file_id: str, name: str, owner: str, *shares: dict) -> dict:
    return {"id": file_id, "name": name, "mimeType": "application/vnd.google-apps.document",
            "webViewLink": f"https://docs.google.com/document/d/{file_id}/edit?usp=drivesdk", "shared": bool(shares),
            "permissions": [person(owner, "owner"), *shares]}


def files() -> dict[str, list[list[dict]]]:
    """Each user's owned files, page by page."""
    ben, cleo = "ben@acme.example", "cleo@acme.example"
    return {
        ADMIN: [[]],
        ben: [
            [drive_file("f-budget", "Budget 2025", ben, anyone("writer")),
             drive_file("f-notes", "Private notes", ben)],
            [drive_file("f-roadmap", "Roadmap", ben, domain("acme.example", "reader"),
                        person("pat@partner.example", "commenter")),
             drive_file("f-deck", "Launch deck", ben, anyone("reader", findable=True))],
        ],
        cleo: [
            [drive_file("f-contract", "Contract draft", cleo, person("lawyer@lawfirm.example", "writer")),
             drive_file("f-wiki", "Team wiki", cleo, domain("acme.example", "writer")),
             drive_file("f-plan", "Plan", cleo, person(ben, "writer"), person("ops@acme-corp.example", "writer",
                                                                               kind="group")),
             drive_file("f-gone", "Old share", cleo, {**person("ex@gone.example", "reader"), "deleted": True})],
        ],
    }


def blob(file_id: str, name: str, owner: str, mime: str, size: int, *shares: dict) -> dict:
    """A stored (uploaded) file: Drive gives its ``size`` in bytes, as a string (int64)."""
    return {"id": file_id, "name": name, "mimeType": mime, "size": str(size),
            "webViewLink": f"https://drive.google.com/file/d/{file_id}/view?usp=drivesdk", "shared": bool(shares),
            "permissions": [person(owner, "owner"), *shares]}


def sheet(file_id: str, name: str, owner: str, *shares: dict) -> dict:
    return {**drive_file(file_id, name, owner, *shares), "mimeType": "application/vnd.google-apps.spreadsheet",
            "webViewLink": f"https://docs.google.com/spreadsheets/d/{file_id}/edit?usp=drivesdk"}


CARD = "4111 1111 1111 1111"  # a Visa test number: passes the Luhn check
BOM = "\ufeff"  # Google's text/plain export of a Doc starts with one


def dlp_files() -> dict[str, list[list[dict]]]:
    """``files()`` for a DLP scan: the same shares, plus stored files (text, image, too large), a
    spreadsheet and a Doc too large for Google to export; eli's Drive answers this time."""
    ben, cleo = "ben@acme.example", "cleo@acme.example"
    pages = files()
    pages[ADMIN] = [[drive_file("f-handbook", "Handbook (600 pages)", ADMIN, anyone("reader"))]]
    pages[cleo][0][0] = blob("f-contract", "contract.txt", cleo, "text/plain", 51,
                             person("lawyer@lawfirm.example", "writer"))
    pages[cleo][0] += [
        blob("f-photo", "team.png", cleo, "image/png", 20480, anyone("reader")),
        blob("f-dump", "export.csv", cleo, "text/csv", 10008, domain("acme.example", "reader")),
        sheet("f-ledger", "Expenses", cleo, domain("acme.example", "writer")),
    ]
    pages["eli@acme.example"] = [[]]
    assert pages[ben][0][1]["id"] == "f-notes"  # unshared, with a card number in it: never read
    return pages


def contents() -> dict[str, str | Response]:
    """What each file holds, by id, as files.export / alt=media give it."""
    return {
        "f-budget": f"{BOM}Budget 2025\r\nTravel: company card {CARD}, expires 12/29.\r\n",
        "f-notes": f"{BOM}My own card {CARD}\r\n",
        "f-roadmap": f"{BOM}Roadmap\r\nQ3: pay the vendor with card {CARD}.\r\n",
        "f-deck": f"{BOM}Launch deck\r\nOur new product ships in May.\r\n",
        "f-contract": f"Contract draft\nDeposit by card {CARD}\n",
        "f-wiki": Response(404, {"error": {"code": 404, "message": "File not found: f-wiki.", "errors": [
            {"message": "File not found: f-wiki.", "domain": "global", "reason": "notFound", "location": "fileId",
             "locationType": "parameter"}]}}),
        "f-handbook": Response(403, {"error": {"code": 403, "message": "This file is too large to be exported.",
                                               "errors": [{"domain": "global", "reason": "exportSizeLimitExceeded",
                                                           "message": "This file is too large to be exported."}]}}),
        "f-ledger": f"Date,Item,Card\r\n2025-03-01,Hotel,{CARD}\r\n",
        "f-photo": "\x89PNG binary",
        "f-dump": "id,name\n" + "1,x\n" * 2500,
    }


EXPORTS = {"application/vnd.google-apps.document": {"text/plain", "text/html", "application/pdf"},
           "application/vnd.google-apps.presentation": {"text/plain", "application/pdf"},
           "application/vnd.google-apps.spreadsheet": {"text/csv", "application/pdf"}}


def _drive_error(status: int, reason: str, message: str) -> Response:
    return Response(status, {"error": {"code": status, "message": message, "errors": [
        {"message": message, "domain": "global", "reason": reason}]}})


def serve_contents(server: VendorServer, pages: dict[str, list[list[dict]]], held: dict[str, str | Response]) -> None:
    """Drive ``files.export`` and ``files.get`` (``alt=media``) for every file of ``pages``: each
    answers only its owner's Drive token; Docs editors files only export (to the formats Google
    lists), stored files only download, as Google's API does."""
    for owner, chunks in pages.items():
        for row in (r for chunk in chunks for r in chunk):
            server.route("GET", f"/drive/v3/files/{row['id']}/export", _content(owner, row, held, export=True))
            server.route("GET", f"/drive/v3/files/{row['id']}", _content(owner, row, held, export=False))


def _content(owner: str, row: dict, held: dict[str, str | Response], *, export: bool):
    def handler(request: Request) -> Response | dict:
        if request.headers.get("Authorization") != f"Bearer {user_token(owner, DRIVE)}":
            return _drive_error(404, "notFound", f"File not found: {row['id']}.")
        google = row["mimeType"].startswith("application/vnd.google-apps.")
        if export:
            if not google:
                return _drive_error(403, "fileNotExportable", "Export only supports Docs Editors files.")
            if request.arg("mimeType") not in EXPORTS.get(row["mimeType"], ()):
                return _drive_error(400, "badRequest", "The requested conversion is not supported.")
        elif request.arg("alt") != "media":
            return {"kind": "drive#file", "id": row["id"], "name": row["name"], "mimeType": row["mimeType"]}
        elif google:
            return _drive_error(403, "fileNotDownloadable",
                                "Only files with binary content can be downloaded. Use Export with Docs Editors files.")
        body = held.get(row["id"], "")
        if isinstance(body, Response):
            return body
        kind = request.arg("mimeType") if export else row["mimeType"]
        return Response(200, raw=body.encode(), headers={"Content-Type": f"{kind}; charset=utf-8"})

    return handler


def files_handler(pages: dict[str, list[list[dict]]]):
    def handler(request: Request) -> Response | dict:
        for email, chunks in pages.items():
            if request.headers.get("Authorization") == f"Bearer {user_token(email, DRIVE)}":
                index = int(request.arg("pageToken") or 0)
                body: dict = {"incompleteSearch": False, "files": chunks[index]}
                if index + 1 < len(chunks):
                    body["nextPageToken"] = str(index + 1)
                return body
        if request.headers.get("Authorization") == f"Bearer {user_token('eli@acme.example', DRIVE)}":
            return Response(403, {"error": {"code": 403, "message": "The user has not enabled Google Drive.",
                                            "errors": [{"message": "The user has not enabled Google Drive.",
                                                        "domain": "global", "reason": "forbidden"}]}})
        return UNAUTHENTICATED

    return handler


def acl_rule(kind: str, role: str, value: str = "") -> dict:
    rule = {"kind": "calendar#aclRule", "etag": '"r"', "id": f"{kind}:{value}" if value else kind,
            "scope": {"type": kind, **({"value": value} if value else {})}, "role": role}
    return rule


def calendars() -> dict[str, list[list[dict]]]:
    ben, cleo = "ben@acme.example", "cleo@acme.example"
    return {
        ADMIN: [[acl_rule("user", "owner", ADMIN), acl_rule("domain", "reader", "acme.example")]],
        ben: [[acl_rule("user", "owner", ben), acl_rule("default", "reader")]],
        cleo: [[acl_rule("user", "owner", cleo)], [acl_rule("default", "freeBusyReader")]],
        "eli@acme.example": [[acl_rule("user", "owner", "eli@acme.example"), acl_rule("default", "none")]],
    }


def acl_handler(pages: dict[str, list[list[dict]]]):
    def handler(request: Request) -> Response | dict:
        for email, chunks in pages.items():
            if request.headers.get("Authorization") == f"Bearer {user_token(email, CALENDAR)}":
                index = int(request.arg("pageToken") or 0)
                body: dict = {"kind": "calendar#acl", "etag": '"acl"', "items": chunks[index]}
                if index + 1 < len(chunks):
                    body["nextPageToken"] = str(index + 1)
                else:
                    body["nextSyncToken"] = "sync-1"
                return body
        return UNAUTHENTICATED

    return handler


def delegates() -> dict[str, dict]:
    return {
        ADMIN: {"delegates": [{"delegateEmail": "ben@acme.example", "verificationStatus": "accepted"},
                              {"delegateEmail": "cleo@acme.example", "verificationStatus": "pending"}]},
        "ben@acme.example": {},
        "cleo@acme.example": {"delegates": [{"delegateEmail": "dora@acme.example", "verificationStatus": "expired"}]},
    }


def delegates_handler(answers: dict[str, dict]):
    def handler(request: Request) -> Response | dict:
        for email, body in answers.items():
            if request.headers.get("Authorization") == f"Bearer {user_token(email, GMAIL)}":
                return body
        return UNAUTHENTICATED

    return handler


def serve(server: VendorServer, *, page_size: int = 2, scopes: set[str] = WORKSPACE_SCOPES) -> None:
    """The whole domain. The default ``scopes`` are the required ones only: the sharing checks
    are then skipped, as for a customer who granted nothing more."""
    people = users()
    server.route("POST", "/token", token_endpoint(scopes, users={u["primaryEmail"] for u in people}))
    server.route("GET", "/admin/directory/v1/users", token_pages(
        people, size=page_size, key="users", extra={"kind": "admin#directory#users", "etag": '"u"'}))
    granted = tokens()
    for item in people:
        found = granted.get(item["id"])
        body = {"kind": "admin#directory#tokenList", "etag": '"l"', **({"items": found} if found else {})}
        server.route("GET", f"/admin/directory/v1/users/{item['id']}/tokens", body)
        server.route("GET", f"/admin/directory/v1/users/{item['primaryEmail']}/tokens", body)
    server.route("GET", "/admin/directory/v1/customer/my_customer/domains", domains())
    server.route("GET", "/drive/v3/files", files_handler(files()))
    server.route("GET", "/calendar/v3/calendars/primary/acl", acl_handler(calendars()))
    server.route("GET", "/gmail/v1/users/me/settings/delegates", delegates_handler(delegates()))


def acting_user(request: Request) -> str:
    """Whom a per-user request was made as (from its token)."""
    return request.headers.get("Authorization", "").removeprefix("Bearer ya29.").partition("~")[0]


def token_requests(server: VendorServer) -> list[tuple[str, str]]:
    """(subject, scopes) of every assertion traded at the token endpoint, in order."""
    found = []
    for request in server.hits("/token", "POST"):
        claims = jwt.decode(request.form["assertion"], options={"verify_signature": False})
        found.append((claims["sub"], claims["scope"]))
    return found


DOMAINS_SCOPE = SCOPE + "admin.directory.domain.readonly"


def domains() -> dict:
    """``domains.list``: a primary domain with a verified alias, a secondary domain, and one not
    verified yet (not checked: Gmail does not send for it)."""
    def alias(name: str, parent: str, verified: bool = True) -> dict:
        return {"kind": "admin#directory#domainAlias", "etag": '"a1"', "domainAliasName": name,
                "parentDomainName": parent, "verified": verified, "creationTime": "1565000000000"}

    def domain(name: str, *, primary: bool = False, verified: bool = True, aliases: list | None = None) -> dict:
        body = {"kind": "admin#directory#domain", "etag": '"d1"', "domainName": name, "isPrimary": primary,
                "verified": verified, "creationTime": "1565000000000"}
        if aliases:
            body["domainAliases"] = aliases
        return body

    return {"kind": "admin#directory#domains", "etag": '"ds"', "domains": [
        domain("acme.example", primary=True, aliases=[alias("acme-corp.example", "acme.example"),
                                                      alias("acme-mail.example", "acme.example"),
                                                      alias("acme-pending.example", "acme.example", False)]),
        domain("acme-labs.example"),
        domain("acme-new.example", verified=False),
    ]}


#: What DNS says about them: acme.example is healthy, the alias lets any IP send and does not
#: enforce DMARC, acme-labs.example has no SPF and a partly enforced DMARC without subdomains.
MAIL_DNS = {
    "acme.example": ["v=spf1 include:_spf.google.com ~all", "google-site-verification=Qx1"],
    "_dmarc.acme.example": ["v=DMARC1; p=reject; rua=mailto:dmarc@acme.example"],
    "acme-corp.example": ["v=spf1 include:_spf.google.com -all"],
    "_dmarc.acme-corp.example": ["v=DMARC1; p=reject; sp=reject"],
    "acme-mail.example": ["v=spf1 include:_spf.google.com +all"],
    "_dmarc.acme-mail.example": ["v=DMARC1; p=none; rua=mailto:dmarc@acme.example"],
    "acme-labs.example": ["google-site-verification=Zz9"],
    "_dmarc.acme-labs.example": ["v=DMARC1; p=quarantine; sp=none; pct=25"],
    "acme-new.example": ["v=spf1 +all"],
}
