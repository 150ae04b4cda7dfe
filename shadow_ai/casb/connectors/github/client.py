"""GitHub's REST API as a GitHub App installed on the organization.

The app signs a short JWT (RS256, ``iss`` = App ID) and trades it for an installation access
token (``POST /app/installations/{id}/access_tokens``), which expires after an hour and is
fetched again when GitHub says so. Lists page with the ``Link`` header (``rel="next"``); rate
limits answer 403 or 429 with ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset`` (or a
``retry-after`` for secondary limits)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import jwt

from shadow_ai.casb.connectors.bearer import use_bearer_tokens
from shadow_ai.casb.connectors.errors import AuthError, MalformedResponse, NotFound
from shadow_ai.casb.connectors.http import VendorHTTP

HOSTS = {"api": "https://api.github.com"}
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="([^"]+)"')


def app_jwt(app_id: str, private_key: str) -> str:
    now = int(time.time())
    try:
        return jwt.encode({"iat": now - 60, "exp": now + 540, "iss": str(app_id)}, private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise AuthError(f"The GitHub App's private key cannot sign ({exc}): paste the .pem file GitHub generated "
                        "for the app.") from None


def installation_token(http: VendorHTTP, app_id: str, installation_id: str, private_key: str) -> str:
    bearer = app_jwt(app_id, private_key)
    try:
        reply = http.post(f"/app/installations/{installation_id}/access_tokens", authenticated=False,
                          headers={"Authorization": f"Bearer {bearer}"})
    except AuthError as exc:
        raise AuthError(f"GitHub refused the app's key: check the App ID and that the private key belongs to this "
                        f"app and was not revoked. ({exc.message})", status=exc.status) from None
    except NotFound:
        raise AuthError(f"The app has no installation {installation_id}: install it on the organization and use "
                        "the installation ID from its settings URL.", status=404) from None
    token = reply.data.get("token") if isinstance(reply.data, Mapping) else None
    if not token:
        raise AuthError("GitHub answered without an installation token.")
    return str(token)


def next_link(headers: Mapping[str, str]) -> str | None:
    for url, rel in _LINK.findall(headers.get("Link", "") or ""):
        if rel == "next":
            return url
    return None


def page(http: VendorHTTP, path_or_link: str, params: Mapping[str, Any] | None = None, *, key: str | None = None
         ) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page of a list: a JSON array, or the array under ``key`` for wrapped lists."""
    is_link = path_or_link.startswith(("http://", "https://"))
    reply = http.get(path_or_link, params=None if is_link else params)
    data = reply.data
    if key is not None:
        data = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(data, list):
        raise MalformedResponse(f"GitHub answered {http.describe(reply.url)} without the list it documents.")
    following = next_link(reply.headers)
    return [row for row in data if isinstance(row, Mapping)], (following if following != path_or_link else None)


def organization(http: VendorHTTP, org: str) -> Mapping[str, Any]:
    reply = http.get(f"/orgs/{org}")
    if not isinstance(reply.data, Mapping):
        raise MalformedResponse("GitHub answered without the organization.")
    return reply.data


def members_without_2fa(http: VendorHTTP, org: str, link: str | None):
    return page(http, link or f"/orgs/{org}/members", {"filter": "2fa_disabled", "per_page": 100})


def installations(http: VendorHTTP, org: str, link: str | None):
    return page(http, link or f"/orgs/{org}/installations", {"per_page": 100}, key="installations")


def fine_grained_tokens(http: VendorHTTP, org: str, link: str | None):
    return page(http, link or f"/orgs/{org}/personal-access-tokens", {"per_page": 100})


def credential_authorizations(http: VendorHTTP, org: str, link: str | None):
    return page(http, link or f"/orgs/{org}/credential-authorizations", {"per_page": 100})


def repositories(http: VendorHTTP, org: str, link: str | None, per_page: int = 30):
    return page(http, link or f"/orgs/{org}/repos", {"type": "all", "per_page": per_page, "sort": "full_name"})


def branch_protection(http: VendorHTTP, full_name: str, branch: str) -> Mapping[str, Any] | None:
    """The default branch's protection rule, or None when the branch is not protected."""
    try:
        reply = http.get(f"/repos/{full_name}/branches/{quote(branch, safe='')}/protection")
    except NotFound:
        return None
    return reply.data if isinstance(reply.data, Mapping) else {}


#: A branch has a handful of rules; this bounds a reply that keeps pointing to more pages.
MAX_RULE_PAGES = 20


def branch_rules(http: VendorHTTP, full_name: str, branch: str) -> list[Mapping[str, Any]]:
    """Every active rule that applies to the branch, whatever ruleset it comes from (repository,
    organization or enterprise), all pages: GitHub leaves out rulesets in "evaluate" or "disabled"
    enforcement."""
    rows: list[Mapping[str, Any]] = []
    link: str | None = None
    for _ in range(MAX_RULE_PAGES):
        try:
            chunk, link = page(http, link or f"/repos/{full_name}/rules/branches/{quote(branch, safe='')}",
                               {"per_page": 100})
        except NotFound:  # the repository went away since it was listed
            return []
        rows.extend(chunk)
        if link is None:
            break
    return rows


def ruleset(http: VendorHTTP, source_type: str, source: str, ruleset_id: int) -> Mapping[str, Any] | None:
    """One ruleset, read where it is defined (the repository's or the organization's endpoint), or
    None when this installation may not read it (GitHub answers 403 or 404)."""
    if source_type == "Organization":
        path = f"/orgs/{source}/rulesets/{ruleset_id}"
    elif source_type == "Repository":
        path = f"/repos/{source}/rulesets/{ruleset_id}"
    else:  # enterprise rulesets have no endpoint an organization's app can read
        return None
    try:
        reply = http.get(path)
    except NotFound:
        return None
    except AuthError as exc:
        if exc.status != 403:
            raise
        return None
    return reply.data if isinstance(reply.data, Mapping) else None


def organization_rulesets(http: VendorHTTP, org: str):
    return page(http, f"/orgs/{org}/rulesets", {"per_page": 1})


def token_auth(ctx: Any) -> None:
    """Send the installation token, fetched on first use and again when GitHub says it expired."""
    use_bearer_tokens(ctx, "github_tokens", lambda _: installation_token(
        ctx.http, ctx.config.get("app_id", ""), ctx.config.get("installation_id", ""),
        ctx.credentials.get("private_key", "")))
