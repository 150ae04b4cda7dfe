"""Microsoft Graph with an app registration (OAuth 2.0 client credentials).

The console trades the app's client ID and secret at the Microsoft identity platform's token
endpoint (``login.microsoftonline.com/{tenant}/oauth2/v2.0/token``, scope
``https://graph.microsoft.com/.default``) for a token carrying the application permissions an
admin consented to. Graph collections page with ``@odata.nextLink`` (a full URL to follow as is)
and throttle with 429 + ``Retry-After``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from shadow_ai.casb.connectors.base import items
from shadow_ai.casb.connectors.bearer import use_bearer_tokens
from shadow_ai.casb.connectors.errors import AuthError, BadRequest, NotFound
from shadow_ai.casb.connectors.http import VendorHTTP

HOSTS = {"login": "https://login.microsoftonline.com", "graph": "https://graph.microsoft.com"}
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Graph v1.0 properties only: a name Graph does not know (``publisherName`` exists only in beta) makes
# the whole request fail with 400. The publisher comes from ``verifiedPublisher``.
SERVICE_PRINCIPAL_FIELDS = ("id,appId,displayName,appOwnerOrganizationId,verifiedPublisher,"
                            "accountEnabled,homepage,replyUrls,info,disabledByMicrosoftStatus,servicePrincipalType")
USER_FIELDS = ("id,userPrincipalName,displayName,accountEnabled,passwordPolicies,lastPasswordChangeDateTime,"
               "onPremisesSyncEnabled,onPremisesLastSyncDateTime,onPremisesProvisioningErrors,"
               "legalAgeGroupClassification,userType,proxyAddresses")
# The per-user steps read users in smaller pages: each user costs one more request, and a page
# (with its checkpoint) should take seconds, not minutes.
PER_USER_FIELDS = "id,userPrincipalName,mail,userType"
PER_USER_PAGE = 100
APPLICATION_FIELDS = "id,appId,displayName,keyCredentials"
# Files and sharing: what a sharing check needs of an item, and what a later content check needs to
# find it again (drive and item id, size, MIME type).
DRIVE_ITEM_FIELDS = "id,name,webUrl,size,shared,folder,file,parentReference,deleted"
SITE_FIELDS = "id,name,displayName,webUrl,isPersonalSite"
DRIVE_FIELDS = "id,name,webUrl,driveType"
# With this preference a delta page carries the ``shared`` facet only on the roots of permission
# hierarchies (items with their own permissions), not on every item inside a shared folder: one
# permissions call per shared item or folder instead of one per descendant.
HIERARCHICAL_SHARING = {"Prefer": "hierarchicalsharing"}


def fetch_token(http: VendorHTTP, tenant: str, client_id: str, secret: str) -> str:
    try:
        reply = http.post(f"/{tenant}/oauth2/v2.0/token", host="login", authenticated=False, data={
            "client_id": client_id, "client_secret": secret, "scope": GRAPH_SCOPE, "grant_type": "client_credentials",
        })
    except (AuthError, BadRequest, NotFound) as exc:
        said = exc.message
        if "AADSTS7000215" in said or "invalid_client" in said:
            hint = "The client secret is wrong or expired: create a new secret and rotate the credentials."
        elif "AADSTS700016" in said or "unauthorized_client" in said:
            hint = "No app with this client ID exists in the tenant: check the Application (client) ID."
        elif "AADSTS90002" in said or "AADSTS900023" in said:
            hint = "The tenant was not found: check the Directory (tenant) ID."
        else:
            hint = "Microsoft refused the app registration."
        raise AuthError(f"{hint} ({said})", status=exc.status) from None
    token = reply.data.get("access_token") if isinstance(reply.data, Mapping) else None
    if not token:
        raise AuthError("Microsoft's token endpoint answered without an access token.")
    return str(token)


def collection(http: VendorHTTP, path_or_link: str, params: Mapping[str, Any] | None = None
               ) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page of a Graph collection: the rows and the next link (None at the end)."""
    is_link = path_or_link.startswith(("http://", "https://"))
    reply = http.get(path_or_link, host="graph", params=None if is_link else params)
    following = reply.data.get("@odata.nextLink") if isinstance(reply.data, Mapping) else None
    return items(reply.data, "value"), (str(following) if following and following != path_or_link else None)


def service_principals(http: VendorHTTP, link: str | None, top: int = 999):
    return collection(http, link or "/v1.0/servicePrincipals", {"$select": SERVICE_PRINCIPAL_FIELDS, "$top": top})


def permission_grants(http: VendorHTTP, link: str | None, top: int = 999):
    return collection(http, link or "/v1.0/oauth2PermissionGrants", {"$top": top})


def users(http: VendorHTTP, link: str | None, top: int = 999, fields: str = USER_FIELDS):
    return collection(http, link or "/v1.0/users", {"$select": fields, "$top": top})


def applications(http: VendorHTTP, link: str | None, top: int = 999):
    """The tenant's own app registrations (application objects), with their certificates."""
    return collection(http, link or "/v1.0/applications", {"$select": APPLICATION_FIELDS, "$top": top})


def every(http: VendorHTTP, path: str, *, max_pages: int = 20, params: Mapping[str, Any] | None = None
          ) -> list[Mapping[str, Any]]:
    """A small per-user collection, all of its pages (a user has a handful of methods or rules)."""
    rows, following = collection(http, path, params)
    for _ in range(max_pages):
        if not following:
            break
        more, following = collection(http, following)
        rows.extend(more)
    return rows


def _user(user_id: str) -> str:
    return quote(str(user_id), safe="")


def authentication_methods(http: VendorHTTP, user_id: str) -> list[Mapping[str, Any]]:
    """Every method registered to the user, each with its derived type's properties
    (``@odata.type`` tells FIDO2 keys, Windows Hello keys and temporary access passes apart)."""
    return every(http, f"/v1.0/users/{_user(user_id)}/authentication/methods")


def inbox_rules(http: VendorHTTP, user_id: str) -> list[Mapping[str, Any]]:
    return every(http, f"/v1.0/users/{_user(user_id)}/mailFolders/inbox/messageRules")


def calendar_permissions(http: VendorHTTP, user_id: str) -> list[Mapping[str, Any]]:
    return every(http, f"/v1.0/users/{_user(user_id)}/calendar/calendarPermissions")


def _id(value: str) -> str:
    """A drive, item or site id in a path: Graph's own ids use ``!`` (drives) and ``,`` (sites)."""
    return quote(str(value), safe="!,")


def user_drive(http: VendorHTTP, user_id: str) -> Mapping[str, Any] | None:
    """The user's OneDrive; None when they have none (unlicensed, never signed in, a guest)."""
    try:
        reply = http.get(f"/v1.0/users/{_user(user_id)}/drive", host="graph", params={"$select": DRIVE_FIELDS})
    except NotFound:
        return None
    return reply.data if isinstance(reply.data, Mapping) else None


def sites(http: VendorHTTP, link: str | None):
    """Every site of the tenant (all geographies), OneDrive personal sites included
    (``isPersonalSite``). ``/sites/getAllSites`` is the listing Graph v1.0 offers application
    permissions; ``/sites?search=*`` is for delegated callers."""
    return collection(http, link or "/v1.0/sites/getAllSites", {"$select": SITE_FIELDS})


def site_drives(http: VendorHTTP, site_id: str) -> list[Mapping[str, Any]]:
    """The document libraries of one site."""
    return every(http, f"/v1.0/sites/{_id(site_id)}/drives", params={"$select": DRIVE_FIELDS})


def drive_delta(http: VendorHTTP, drive_id: str, link: str | None) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page of a full enumeration of a drive (``root/delta`` without a token): its items and
    the ``@odata.nextLink`` of the next page; None on the last page, which carries the
    ``@odata.deltaLink`` instead (not kept: each scan enumerates the drive afresh)."""
    reply = http.get(link or f"/v1.0/drives/{_id(drive_id)}/root/delta", host="graph",
                     params=None if link else {"$select": DRIVE_ITEM_FIELDS}, headers=HIERARCHICAL_SHARING)
    following = reply.data.get("@odata.nextLink") if isinstance(reply.data, Mapping) else None
    return items(reply.data, "value"), (str(following) if following and following != link else None)


def item_permissions(http: VendorHTTP, drive_id: str, item_id: str) -> list[Mapping[str, Any]]:
    """The item's sharing permissions (sharing links carry a ``link`` facet)."""
    return every(http, f"/v1.0/drives/{_id(drive_id)}/items/{_id(item_id)}/permissions")


#: Graph's ``/content`` answers 302 to a pre-authenticated URL on the tenant's SharePoint host.
DOWNLOAD_HOSTS = ("sharepoint.com",)
#: Microsoft's recommended page size for the Copilot interaction export.
COPILOT_PAGE = 100


def item_content(http: VendorHTTP, drive_id: str, item_id: str, *, max_bytes: int) -> bytes | None:
    """A file's bytes (None when larger than ``max_bytes``). Graph answers 302 with a short-lived
    pre-authenticated download URL; it is followed without our token."""
    return http.download(f"/v1.0/drives/{_id(drive_id)}/items/{_id(item_id)}/content", host="graph",
                         max_bytes=max_bytes, redirect_hosts=DOWNLOAD_HOSTS)


def copilot_interactions(http: VendorHTTP, user_id: str, link: str | None, *, since: str, until: str
                         ) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page of a user's Microsoft 365 Copilot prompts and responses created in [since, until)
    (Graph v1.0 ``getAllEnterpriseInteractions``, AiEnterpriseInteraction.Read.All; no delta form)."""
    return collection(http, link or f"/v1.0/copilot/users/{_user(user_id)}/interactionHistory/"
                      "getAllEnterpriseInteractions",
                      {"$filter": f"createdDateTime ge {since} and createdDateTime lt {until}", "$top": COPILOT_PAGE})


def site_by_path(http: VendorHTTP, hostname: str, path: str) -> Mapping[str, Any] | None:
    """A site by its host and server-relative path (``/sites/{hostname}:/{path}``; the root site for "")."""
    address = f"/v1.0/sites/{quote(hostname, safe='')}" + (f":/{quote(path.strip('/'), safe='/')}" if path else "")
    try:
        reply = http.get(address, host="graph", params={"$select": "id,webUrl"})
    except NotFound:
        return None
    return reply.data if isinstance(reply.data, Mapping) else None


def item_by_path(http: VendorHTTP, drive_id: str, path: str) -> Mapping[str, Any] | None:
    """A drive item by its path under the drive's root (``/drives/{id}/root:/{path}``)."""
    try:
        reply = http.get(f"/v1.0/drives/{_id(drive_id)}/root:/{quote(path.strip('/'), safe='/')}", host="graph",
                         params={"$select": DRIVE_ITEM_FIELDS})
    except NotFound:
        return None
    return reply.data if isinstance(reply.data, Mapping) else None


def domains(http: VendorHTTP, link: str | None):
    return collection(http, link or "/v1.0/domains", {})


def user_name(http: VendorHTTP, user_id: str) -> str:
    try:
        reply = http.get(f"/v1.0/users/{user_id}", host="graph", params={"$select": "userPrincipalName"})
    except NotFound:
        return ""
    return str(reply.data.get("userPrincipalName") or "") if isinstance(reply.data, Mapping) else ""


def token_auth(ctx: Any) -> None:
    """Send a Graph token (client credentials), fetched on first use and again when Graph says it expired."""
    use_bearer_tokens(ctx, "graph_tokens", lambda _: fetch_token(
        ctx.http, ctx.config.get("tenant_id", ""), ctx.config.get("client_id", ""),
        ctx.credentials.get("client_secret", "")))
