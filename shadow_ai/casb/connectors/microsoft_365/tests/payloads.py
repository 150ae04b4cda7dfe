"""Replies shaped like the Microsoft identity platform's token endpoint (client credentials) and
Microsoft Graph v1.0 collections (``value`` + ``@odata.nextLink`` with a ``$skiptoken``): service
principals, grants, users, domains, applications, and per user authentication methods, inbox rules
and calendar permissions (as in Graph's "List methods", "List rules" and "List calendarPermissions")."""

from __future__ import annotations

from datetime import timedelta

from shadow_ai.casb import schemacheck
from shadow_ai.casb.testing import (
    NOW,
    Request,
    Response,
    Script,
    VendorServer,
)

GRAPH = schemacheck.load("microsoft_graph_v1")

TENANT = "7d3c1a2b-0000-4000-8000-acme00000001"
CLIENT_ID = "5e2f9a10-1111-4111-8111-casb00000001"
SECRET = "Qx8Q~replay-secret"
OPENAI_TENANT = "a0b1c2d3-2222-4222-8222-000000000abc"
MICROSOFT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
CONFIG = {"tenant_id": TENANT, "client_id": CLIENT_ID}


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def denied(code: str = "Authorization_RequestDenied",
           message: str = "Insufficient privileges to complete the operation.") -> Response:
    return Response(403, {"error": {"code": code, "message": message, "innerError": {
        "date": "2026-03-01T12:00:00", "request-id": "5c1b4e0e-0000-4000-8000-000000000403"}}})


NO_MAILBOX = Response(404, {"error": {
    "code": "MailboxNotEnabledForRESTAPI",
    "message": "The mailbox is either inactive, soft-deleted, or is hosted on-premise."}})


def token_endpoint(request: Request) -> Response:
    form = request.form
    if form.get("client_id") != CLIENT_ID:
        return Response(400, {"error": "unauthorized_client", "error_description": f"AADSTS700016: Application "
                              f"with identifier '{form.get('client_id')}' was not found in the directory.",
                              "error_codes": [700016]})
    if form.get("client_secret") != SECRET:
        return Response(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client "
                              "secret provided. Ensure the secret being sent in the request is the client secret "
                              "value, not the client secret ID.", "error_codes": [7000215]})
    assert form["scope"] == "https://graph.microsoft.com/.default" and form["grant_type"] == "client_credentials"
    return Response(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                          "access_token": "eyJ0eXAi.replay.graph"})


def sp(sp_id: str, app_id: str, name: str, owner: str, *, homepage: str | None = None, reply: list[str] = (),
       verified: str | None = None, disabled: str | None = None, kind: str = "Application") -> dict:
    return {"id": sp_id, "appId": app_id, "displayName": name, "appOwnerOrganizationId": owner,
            "accountEnabled": True, "homepage": homepage,
            "replyUrls": list(reply), "servicePrincipalType": kind, "disabledByMicrosoftStatus": disabled,
            "verifiedPublisher": {"displayName": verified, "verifiedPublisherId": "1234567" if verified else None,
                                  "addedDateTime": at(500) if verified else None},
            "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None, "supportUrl": None,
                     "termsOfServiceUrl": None}}


def service_principals() -> list[dict]:
    return [
        sp("sp-graph", "00000003-0000-0000-c000-000000000000", "Microsoft Graph", MICROSOFT),
        sp("sp-chatgpt", "e0476654-c1d5-430b-ab80-70cbd947616a", "ChatGPT", OPENAI_TENANT,
           homepage="https://chatgpt.com/", reply=["https://chatgpt.com/aip/connectors/callback"], verified="OpenAI"),
        sp("sp-summarize", "aa11bb22-0000-4000-8000-sumsumsum001", "Summarize Genie AI", "0badc0de-0000-4000-8000-1",
           homepage="https://app.summarizegenie.ai/", reply=["https://app.summarizegenie.ai/auth"]),
        sp("sp-banned", "bb22cc33-0000-4000-8000-banned000001", "Free Mail Backup", "0badc0de-0000-4000-8000-2",
           disabled="DisabledDueToViolationOfServicesAgreement"),
        sp("sp-own", "cc33dd44-0000-4000-8000-own000000001", "Acme HR portal", TENANT, homepage="https://hr.acme.example"),
        sp("sp-mi", "dd44ee55-0000-4000-8000-mi0000000001", "build agent", TENANT, kind="ManagedIdentity"),
    ]


def grants() -> list[dict]:
    def grant(grant_id: str, client: str, scope: str, principal: str | None) -> dict:
        return {"id": grant_id, "clientId": client, "consentType": "Principal" if principal else "AllPrincipals",
                "principalId": principal, "resourceId": "sp-graph", "scope": f" {scope} "}

    return [
        grant("g1", "sp-chatgpt", "openid profile email offline_access Files.Read.All", "u-ana"),
        grant("g2", "sp-chatgpt", "openid profile User.Read", "u-raj"),
        grant("g3", "sp-summarize", "User.Read Mail.Read", None),
        grant("g4", "sp-own", "User.Read Files.ReadWrite.All", None),   # our own app: not third-party
        grant("g5", "sp-graph", "User.Read", "u-ana"),                  # Microsoft's: not third-party
    ]


def users() -> list[dict]:
    def person(user_id: str, upn: str, **extra) -> dict:
        local = upn.split("@")[0]
        return {"id": user_id, "userPrincipalName": upn, "displayName": local.title(), "mail": upn,
                "accountEnabled": True, "passwordPolicies": "None", "lastPasswordChangeDateTime": at(10),
                "onPremisesSyncEnabled": None, "onPremisesLastSyncDateTime": None,
                "onPremisesProvisioningErrors": [], "legalAgeGroupClassification": None, "userType": "Member",
                "proxyAddresses": [f"SMTP:{upn}", f"smtp:{local}@acme.onmicrosoft.com"], **extra}

    return [
        person("u-ana", "ana@acme.example"),
        person("u-raj", "raj@acme.example", passwordPolicies="DisablePasswordExpiration, DisableStrongPassword",
               lastPasswordChangeDateTime=at(200),
               proxyAddresses=["SMTP:raj@acme.example", "smtp:raj@acme-old.example",
                               "smtp:raj@ACME.onmicrosoft.com", "SIP:raj@chat.partner.example",
                               "X500:/o=ExchangeLabs/ou=Exchange/cn=Recipients/cn=raj"]),
        person("u-old", "old.timer@acme.example", accountEnabled=False),
        person("u-sync", "sync@acme.example", onPremisesSyncEnabled=True, onPremisesLastSyncDateTime=at(12),
               onPremisesProvisioningErrors=[{"category": "PropertyConflict", "occurredDateTime": at(12),
                                              "propertyCausingError": "UserPrincipalName", "value": "sync@acme"}]),
        person("u-teen", "intern@acme.example", legalAgeGroupClassification="MinorWithParentalConsent", mail=None,
               proxyAddresses=[]),
        person("u-guest", "vendor_partner.example#EXT#@acme.onmicrosoft.com", userType="Guest",
               mail="vendor@partner.example", proxyAddresses=["SMTP:vendor@partner.example"]),
    ]


def domains() -> list[dict]:
    return [{"id": "acme.example", "isVerified": True, "isDefault": True, "authenticationType": "Managed"},
            {"id": "acme.onmicrosoft.com", "isVerified": True, "isDefault": False, "isInitial": True,
             "authenticationType": "Managed"},
            {"id": "acme-old.example", "isVerified": False, "isDefault": False, "authenticationType": "Managed"}]


def applications() -> list[dict]:
    def app(app_id: str, name: str, *certs: dict) -> dict:
        return {"id": app_id, "appId": f"{app_id}-client", "displayName": name, "keyCredentials": list(certs)}

    def cert(key_id: str, name: str, *, ends_in_days: float) -> dict:
        return {"customKeyIdentifier": "52D4A2C5B8B5A9F1", "displayName": name, "endDateTime": at(-ends_in_days),
                "key": None, "keyId": key_id, "startDateTime": at(365), "type": "AsymmetricX509Cert",
                "usage": "Verify"}

    return [
        app("app-hr", "Acme HR portal", cert("k-soon", "CN=hr-portal 2025", ends_in_days=30),
            cert("k-next", "CN=hr-portal 2026", ends_in_days=400)),
        app("app-export", "Nightly export", cert("k-gone", "CN=export", ends_in_days=-10)),
        app("app-casb", "Zero trust console CASB"),
    ]


def methods() -> dict[str, list[dict]]:
    """Each user's authentication methods, as ``/users/{id}/authentication/methods`` lists them."""
    def password() -> dict:
        return {"@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
                "id": "28c10230-6103-485e-b985-444c60001490", "password": None, "createdDateTime": at(300)}

    def fido2(method_id: str, level: str, name: str) -> dict:
        return {"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": method_id, "displayName": name,
                "createdDateTime": at(40), "aaGuid": "2fc0579f-8113-47ea-b116-555a8db9202a", "model": "NFC key",
                "attestationCertificates": ["dbe793efdf1945e2df25d93653a1e8a3268a9075"] if level == "attested" else [],
                "attestationLevel": level}

    def hello(method_id: str, strength: str, device: str) -> dict:
        return {"@odata.type": "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod", "id": method_id,
                "displayName": device, "createdDateTime": at(90), "keyStrength": strength}

    def tap(method_id: str, *, once: bool, minutes: int, started_days_ago: float, reason: str, usable: bool) -> dict:
        return {"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod", "id": method_id,
                "temporaryAccessPass": None, "createdDateTime": at(started_days_ago), "startDateTime":
                at(started_days_ago), "lifetimeInMinutes": minutes, "isUsableOnce": once, "isUsable": usable,
                "methodUsabilityReason": reason}

    return {
        "u-ana": [password(), fido2("fido-blue", "notAttested", "Blue key"), hello("whfb-ana", "normal", "ANA-LAPTOP")],
        "u-raj": [password(), hello("whfb-raj", "weak", "RAJ-DESKTOP"),
                  tap("tap-raj", once=False, minutes=1440, started_days_ago=1 / 24, reason="EnabledByPolicy",
                      usable=True)],
        "u-old": [tap("tap-old", once=False, minutes=43200, started_days_ago=60, reason="Expired", usable=False)],
        "u-sync": [fido2("fido-red", "attested", "Red key"),
                   tap("tap-sync", once=True, minutes=60, started_days_ago=0.01, reason="EnabledByPolicy",
                       usable=True)],
        "u-teen": [tap("tap-teen", once=True, minutes=43200, started_days_ago=-1, reason="NotYetValid",
                       usable=False)],
        "u-guest": [],
    }


def recipients(*addresses: str) -> list[dict]:
    return [{"emailAddress": {"name": a.split("@")[0], "address": a}} for a in addresses]


def rules() -> dict[str, list[dict]]:
    """Each mailbox's inbox rules, as ``/users/{id}/mailFolders/inbox/messageRules`` lists them."""
    def rule(rule_id: str, name: str, actions: dict, *, enabled: bool = True, error: bool = False) -> dict:
        return {"id": rule_id, "displayName": name, "sequence": 1, "isEnabled": enabled, "hasError": error,
                "isReadOnly": False, "conditions": {"senderContains": ["invoices"]}, "actions": actions}

    return {
        "u-ana": [
            rule("AQAAAJ5dZp8=", "Remove spam", {"delete": True, "stopProcessingRules": True}),
            rule("AQAAAJ5dZqA=", "To Raj", {"forwardTo": recipients("raj@acme.example")}),
            rule("AQAAAJ5dZqB=", "Home copy", {"forwardTo": recipients("raj@acme.example", "ana@home-mail.example")}),
            rule("AQAAAJ5dZqC=", "Old redirect", {"redirectTo": recipients("ana@home-mail.example")}, enabled=False),
        ],
        "u-raj": [
            rule("AQAAAJ5dZrA=", "Everything out", {"forwardAsAttachmentTo": recipients("raj@freemail.example"),
                                                    "redirectTo": recipients("archive@backup.example")}),
            rule("AQAAAJ5dZrB=", "Broken", {"forwardTo": recipients("raj@freemail.example")}, error=True),
        ],
        "u-sync": [],
    }


def calendars() -> dict[str, list[dict]]:
    """Each mailbox's primary calendar permissions (``/users/{id}/calendar/calendarPermissions``)."""
    organization = {"id": "RGVmYXVsdA==", "isRemovable": False, "isInsideOrganization": True, "role": "freeBusyRead",
                    "allowedRoles": ["none", "freeBusyRead", "limitedRead", "read", "write"],
                    "emailAddress": {"name": "My Organization"}}

    def shared(address: str, role: str, inside: bool) -> dict:
        return {"id": f"perm-{address}", "isRemovable": True, "isInsideOrganization": inside, "role": role,
                "allowedRoles": ["freeBusyRead", "limitedRead", "read"],
                "emailAddress": {"name": address, "address": address}}

    return {
        "u-ana": [shared("raj@acme.example", "write", True), shared("consultant@partner.example", "read", False),
                  organization],
        "u-raj": [organization, shared("old@previous-employer.example", "none", False)],
        "u-sync": [organization],
    }


def graph_pages(server: VendorServer, path: str, rows: list[dict], size: int):
    def handler(request: Request) -> dict:
        start = int(request.arg("$skiptoken") or 0)
        body = {"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{path.rsplit('/', 1)[-1]}",
                "value": rows[start:start + size]}
        if start + size < len(rows):
            body["@odata.nextLink"] = f"{server.url}{path}?$top={size}&$skiptoken={start + size}"
        return body

    return handler


def unknown_select(request: Request) -> Response | None:
    """Graph's answer to a ``$select`` naming a property the resource's type lacks in v1.0 (a
    beta-only property such as ``servicePrincipal.publisherName``): 400, and nothing else."""
    chosen = request.arg("$select")
    schema = schemacheck.route_schema(GRAPH, request.method, request.path)
    if not chosen or schema is None:
        return None
    entity = schema.get("$ref") or schema["properties"]["value"]["items"]["$ref"]
    documented = schemacheck.properties(GRAPH, entity) or {}
    for name in chosen.split(","):
        if name.strip() not in documented:
            return Response(400, {"error": {"code": "BadRequest", "message": f"Could not find a property named "
                                            f"'{name.strip()}' on type 'microsoft.graph.{entity}'.",
                                            "innerError": {"date": "2026-03-01T12:00:00",
                                                           "request-id": "400-select"}}})
    return None


def refusing_unknown_select(answer):
    """A route's answer behind Graph's ``$select`` check."""
    def handler(request: Request):
        refused = unknown_select(request)
        if refused is not None:
            return refused
        found = answer.next() if isinstance(answer, Script) else answer
        return found(request) if callable(found) else found

    return handler


def serve(server: VendorServer, *, page_size: int = 2) -> None:
    _serve(server, page_size=page_size)
    for key, answer in list(server.routes.items()):
        if key[1].startswith("/v1.0/"):
            server.routes[key] = refusing_unknown_select(answer)


def _serve(server: VendorServer, *, page_size: int = 2) -> None:
    server.route("POST", f"/{TENANT}/oauth2/v2.0/token", token_endpoint)
    server.route("GET", "/v1.0/servicePrincipals", graph_pages(server, "/v1.0/servicePrincipals",
                                                               service_principals(), page_size))
    server.route("GET", "/v1.0/oauth2PermissionGrants", graph_pages(server, "/v1.0/oauth2PermissionGrants", grants(),
                                                                     page_size))
    server.route("GET", "/v1.0/users", graph_pages(server, "/v1.0/users", users(), page_size))
    server.route("GET", "/v1.0/domains", graph_pages(server, "/v1.0/domains", domains(), 10))
    server.route("GET", "/v1.0/applications", graph_pages(server, "/v1.0/applications", applications(), page_size))
    for person in users():
        user = f"/v1.0/users/{person['id']}"
        server.route("GET", user, {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(userPrincipalName)/$entity",
            "userPrincipalName": person["userPrincipalName"]})
        server.route("GET", f"{user}/authentication/methods", {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{person['id']}')/authentication/methods",
            "value": methods()[person["id"]]})
        mine = rules().get(person["id"])
        server.route("GET", f"{user}/mailFolders/inbox/messageRules", NO_MAILBOX if mine is None else graph_pages(
            server, f"{user}/mailFolders/inbox/messageRules", mine, 2))
        shares = calendars().get(person["id"])
        server.route("GET", f"{user}/calendar/calendarPermissions", NO_MAILBOX if shares is None else {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{person['id']}')/calendar/"
                              "calendarPermissions", "value": shares})
        server.route("GET", f"/v1.0/copilot/users/{person['id']}/interactionHistory/getAllEnterpriseInteractions", {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.aiInteraction)",
            "value": []})
    serve_files(server)


# --- OneDrive and SharePoint: drives, delta pages, sharing permissions ---------------------------
# Shaped like Graph's "Get drive", "sites: getAllSites", "List drives", "driveItem: delta" (pages
# linked by @odata.nextLink, the last one carrying @odata.deltaLink) and "List permissions".

NO_DRIVE = Response(404, {"error": {"code": "itemNotFound", "message": "User's mysite not found.",
                                    "innerError": {"date": "2026-03-01T12:00:00", "request-id": "404-drive"}}})
ITEM_GONE = Response(404, {"error": {"code": "itemNotFound", "message": "The resource could not be found.",
                                     "innerError": {"date": "2026-03-01T12:00:00", "request-id": "404-item"}}})
ANA_DRIVE, RAJ_DRIVE = "b!anaOneDrive0001", "b!rajOneDrive0002"
MARKETING_DRIVE, FINANCE_DRIVE, ROOT_DRIVE = "b!mktDocuments0003", "b!finDocuments0004", "b!rootDocuments005"
MARKETING_SITE = "acme.sharepoint.com,4f1e0c9a-0000-4000-8000-marketing001,9a8b7c6d-0000-4000-8000-web000000001"
FINANCE_SITE = "acme.sharepoint.com,5e2f1d0b-0000-4000-8000-finance00001,8b7c6d5e-0000-4000-8000-web000000002"
ROOT_SITE = "acme.sharepoint.com,6d3e2f1c-0000-4000-8000-root00000001,7c6d5e4f-0000-4000-8000-web000000003"
ANA_SITE = "acme-my.sharepoint.com,7c4f3e2d-0000-4000-8000-personal0001,6d5e4f3a-0000-4000-8000-web000000004"


def drive(drive_id: str, name: str, url: str, kind: str = "business") -> dict:
    return {"id": drive_id, "name": name, "webUrl": url, "driveType": kind}


def drives_by_user() -> dict[str, dict]:
    return {"u-ana": drive(ANA_DRIVE, "OneDrive", "https://acme-my.sharepoint.com/personal/ana_acme_example/Documents"),
            "u-raj": drive(RAJ_DRIVE, "OneDrive", "https://acme-my.sharepoint.com/personal/raj_acme_example/Documents")}


def all_sites() -> list[dict]:
    def site(site_id: str, name: str, url: str, *, personal: bool = False) -> dict:
        return {"id": site_id, "name": name, "displayName": name, "webUrl": url, "isPersonalSite": personal}

    return [site(ROOT_SITE, "Communication site", "https://acme.sharepoint.com"),
            site(ANA_SITE, "Ana", "https://acme-my.sharepoint.com/personal/ana_acme_example", personal=True),
            site(MARKETING_SITE, "Marketing", "https://acme.sharepoint.com/sites/Marketing"),
            site(FINANCE_SITE, "Finance", "https://acme.sharepoint.com/sites/Finance")]


def site_drives() -> dict[str, list[dict]]:
    return {ROOT_SITE: [drive(ROOT_DRIVE, "Documents", "https://acme.sharepoint.com/Shared%20Documents",
                              "documentLibrary")],
            MARKETING_SITE: [drive(MARKETING_DRIVE, "Documents", "https://acme.sharepoint.com/sites/Marketing/"
                                   "Shared%20Documents", "documentLibrary")],
            FINANCE_SITE: [drive(FINANCE_DRIVE, "Documents", "https://acme.sharepoint.com/sites/Finance/"
                                 "Shared%20Documents", "documentLibrary")]}


def item(item_id: str, name: str, drive_id: str, *, shared: dict | None = None, folder: bool = False,
         deleted: bool = False, mime: str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         size: int = 24576) -> dict:
    row = {"id": item_id, "name": name, "size": size,
           "webUrl": f"https://acme.sharepoint.com/{drive_id}/{name.replace(' ', '%20')}",
           "parentReference": {"driveId": drive_id, "driveType": "business", "id": "01ROOT0000000000000000000000"}}
    if folder:
        row["folder"] = {"childCount": 3}
    else:
        row["file"] = {"mimeType": mime, "hashes": {"quickXorHash": "dGhpcyBpcyBub3QgYSBoYXNo"}}
    if shared is not None:
        row["shared"] = shared
    if deleted:
        row = {"id": item_id, "deleted": {"state": "deleted"}, "parentReference": row["parentReference"],
               **({"shared": shared} if shared is not None else {})}
    return row


def scope(value: str | None) -> dict:
    """The ``shared`` facet as delta returns it on the root of a permission hierarchy."""
    facet: dict = {"owner": {"user": {"displayName": "Ana", "id": "u-ana"}}}
    if value:
        facet["scope"] = value
    return facet


def root(drive_id: str) -> dict:
    return {"id": "01ROOT0000000000000000000000", "name": "root", "root": {}, "folder": {"childCount": 5},
            "size": 0, "webUrl": f"https://acme.sharepoint.com/{drive_id}", "shared": {}}


def delta_pages() -> dict[str, list[list[dict]]]:
    """Each drive's full enumeration, page by page."""
    return {
        ANA_DRIVE: [
            [root(ANA_DRIVE),
             item("01ANA0PLAN", "Q3 plan.docx", ANA_DRIVE, shared=scope("anonymous")),
             item("01ANA0TEAM", "Team", ANA_DRIVE, shared=scope("organization"), folder=True),
             item("01ANA0NOTE", "notes.txt", ANA_DRIVE, mime="text/plain", size=120)],
            [item("01ANA0DECK", "Board deck.pptx", ANA_DRIVE, shared=scope("anonymous"),
                  mime="application/vnd.openxmlformats-officedocument.presentationml.presentation", size=2097152),
             item("01ANA0OLDX", "old.xlsx", ANA_DRIVE, shared=scope("anonymous"), deleted=True),
             item("01ANA0GONE", "Gone.docx", ANA_DRIVE, shared=scope("anonymous")),
             item("01ANA0PEOP", "For Raj.docx", ANA_DRIVE, shared=scope("users")),
             item("01ANA0EXPD", "Expired.docx", ANA_DRIVE, shared=scope("anonymous"))],
        ],
        RAJ_DRIVE: [[root(RAJ_DRIVE),
                     item("01RAJ0DROP", "Uploads", RAJ_DRIVE, shared=scope("anonymous"), folder=True)]],
        ROOT_DRIVE: [[root(ROOT_DRIVE)]],
        MARKETING_DRIVE: [[
            root(MARKETING_DRIVE),
            item("01MKT0BRND", "Brand assets", MARKETING_DRIVE, shared=scope("anonymous"), folder=True),
            item("01MKT0PRIC", "Pricing.xlsx", MARKETING_DRIVE, shared=scope(None),
                 mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            item("01MKT0DRFT", "Shared drafts", MARKETING_DRIVE, shared=scope("organization"), folder=True),
        ]],
        FINANCE_DRIVE: [[root(FINANCE_DRIVE), item("01FIN0BUDG", "Budget.xlsx", FINANCE_DRIVE)]],
    }


def link(perm_id: str, link_scope: str, link_type: str, roles: list[str], *, expires: str | None = None) -> dict:
    perm = {"id": perm_id, "roles": roles, "shareId": f"u!{perm_id}", "hasPassword": False,
            "grantedToIdentitiesV2": [], "grantedToIdentities": [],
            "link": {"scope": link_scope, "type": link_type, "preventsDownload": False,
                     "webUrl": f"https://acme.sharepoint.com/:w:/s/{perm_id}"}}
    if expires:
        perm["expirationDateTime"] = expires
    return perm


OWNER = {"id": "aTowIy5mfG1lbWJlcnNoaXB8YW5h", "roles": ["owner"],
         "grantedToV2": {"user": {"displayName": "Ana", "id": "u-ana"},
                         "siteUser": {"displayName": "Ana", "id": "7",
                                      "loginName": "i:0#.f|membership|ana@acme.example"}}}


def permissions() -> dict[tuple[str, str], list[dict]]:
    people = {"id": "cGVvcGxl", "roles": ["write"], "link": {"scope": "users", "type": "edit", "webUrl": "https://x"},
              "grantedToIdentitiesV2": [{"user": {"displayName": "Raj", "id": "u-raj"}}]}
    return {
        (ANA_DRIVE, "01ANA0PLAN"): [OWNER, link("plan-edit", "anonymous", "edit", ["write"],
                                                expires="0001-01-01T00:00:00Z")],
        (ANA_DRIVE, "01ANA0TEAM"): [OWNER, link("team-view", "organization", "view", ["read"])],
        (ANA_DRIVE, "01ANA0DECK"): [OWNER, people, link("deck-view", "anonymous", "view", ["read"],
                                                        expires=at(-30)),
                                    link("deck-org-edit", "organization", "edit", ["write"])],
        (ANA_DRIVE, "01ANA0EXPD"): [OWNER, link("expd-view", "anonymous", "view", ["read"], expires=at(2))],
        (RAJ_DRIVE, "01RAJ0DROP"): [OWNER, link("drop-upload", "anonymous", "createOnly", ["write"])],
        (MARKETING_DRIVE, "01MKT0BRND"): [link("brand-view", "anonymous", "blocksDownload", ["read"])],
        (MARKETING_DRIVE, "01MKT0PRIC"): [link("pricing-view", "organization", "view", ["read"])],
        (MARKETING_DRIVE, "01MKT0DRFT"): [link("drafts-edit", "organization", "edit", ["write"]), people],
    }


def delta_handler(server: VendorServer, drive_id: str, pages: list[list[dict]]):
    def handler(request: Request) -> dict:
        token = request.arg("token")
        index = int(token[1:]) if token and token.startswith("p") else 0
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(driveItem)",
                "value": pages[index]}
        base = f"{server.url}/v1.0/drives/{drive_id}/root/delta"
        if index + 1 < len(pages):
            body["@odata.nextLink"] = f"{base}?token=p{index + 1}"
        else:
            body["@odata.deltaLink"] = f"{base}?token=MzslMjM0OyUyMzE7MzsyM2YwNDVhMS1l"
        return body

    return handler


def serve_files(server: VendorServer) -> None:
    drives = drives_by_user()
    for person in users():
        mine = drives.get(person["id"])
        server.route("GET", f"/v1.0/users/{person['id']}/drive", NO_DRIVE if mine is None else {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#drives/$entity", **mine})
    server.route("GET", "/v1.0/sites/getAllSites", graph_pages(server, "/v1.0/sites/getAllSites", all_sites(), 2))
    for site_id, rows in site_drives().items():
        server.route("GET", f"/v1.0/sites/{site_id}/drives", {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#drives", "value": rows})
    for drive_id, pages in delta_pages().items():
        server.route("GET", f"/v1.0/drives/{drive_id}/root/delta", delta_handler(server, drive_id, pages))
    for (drive_id, item_id), rows in permissions().items():
        server.route("GET", f"/v1.0/drives/{drive_id}/items/{item_id}/permissions", {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#drives('{drive_id}')/items('{item_id}')/"
                              "permissions", "value": rows})
    server.route("GET", f"/v1.0/drives/{ANA_DRIVE}/items/01ANA0GONE/permissions", ITEM_GONE)
