"""Replies shaped like the Microsoft identity platform's token endpoint (client credentials) and
Microsoft Graph v1.0 collections (``value`` + ``@odata.nextLink`` with a ``$skiptoken``)."""

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


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        return {"id": user_id, "userPrincipalName": upn, "displayName": upn.split("@")[0].title(),
                "accountEnabled": True, "passwordPolicies": "None", "lastPasswordChangeDateTime": at(10),
                "onPremisesSyncEnabled": None, "onPremisesLastSyncDateTime": None,
                "onPremisesProvisioningErrors": [], "legalAgeGroupClassification": None, "userType": "Member",
                **extra}

    return [
        person("u-ana", "ana@acme.example"),
        person("u-raj", "raj@acme.example", passwordPolicies="DisablePasswordExpiration, DisableStrongPassword",
               lastPasswordChangeDateTime=at(200)),
        person("u-old", "old.timer@acme.example", accountEnabled=False),
        person("u-sync", "sync@acme.example", onPremisesSyncEnabled=True, onPremisesLastSyncDateTime=at(12),
               onPremisesProvisioningErrors=[{"category": "PropertyConflict", "occurredDateTime": at(12),
                                              "propertyCausingError": "UserPrincipalName", "value": "sync@acme"}]),
        person("u-teen", "intern@acme.example", legalAgeGroupClassification="MinorWithParentalConsent"),
    ]


def domains() -> list[dict]:
    return [{"id": "acme.example", "isVerified": True, "isDefault": True, "authenticationType": "Managed"},
            {"id": "acme-old.example", "isVerified": False, "isDefault": False, "authenticationType": "Managed"}]


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
    for person in users():
        server.route("GET", f"/v1.0/users/{person['id']}", {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(userPrincipalName)/$entity",
            "userPrincipalName": person["userPrincipalName"]})
