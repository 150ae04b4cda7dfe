"""Replies shaped like the Microsoft identity platform's token endpoint (client credentials) and
Microsoft Graph v1.0 collections (``value`` + ``@odata.nextLink`` with a ``$skiptoken``): service
principals, grants, users, domains, applications, and per user authentication methods, inbox rules
and calendar permissions (as in Graph's "List methods", "List rules" and "List calendarPermissions")."""

from __future__ import annotations

from datetime import timedelta

from shadow_ai.casb.testing import (
    NOW,
    Request,
    Response,
    VendorServer,
)

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
            "publisherName": verified or "Contoso", "accountEnabled": True, "homepage": homepage,
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


def serve(server: VendorServer, *, page_size: int = 2) -> None:
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
