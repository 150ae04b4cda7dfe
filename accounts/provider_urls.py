"""The URLs of an OpenID provider: the issuer an admin types and the endpoints its discovery
document names. Each is parsed (never matched as a string prefix, which ``http://localhost@evil``
would pass) and must be https, or plain http on this machine only. Endpoints the console fetches
itself (token, userinfo, JWKS) must also pass the outbound policy (console/core/outbound.py)."""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit

from console.core import outbound
from console.core.errors import ExternalServiceError, ValidationFailed

LOOPBACK_NAMES = ("localhost",)
LOOPBACK_HINT = "localhost, 127.0.0.1, [::1]"
# Endpoints the console calls itself, and the one the browser is sent to.
FETCHED_ENDPOINTS = ("token_endpoint", "userinfo_endpoint", "jwks_uri")
BROWSER_ENDPOINTS = ("authorization_endpoint",)


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> tuple[str, SplitResult | None]:
    """What is wrong with a provider URL ("" if nothing), and its parts."""
    if not isinstance(url, str) or not url:
        return "is empty", None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        return "must be an https:// URL", parts
    if "@" in parts.netloc:
        return (f"may not carry credentials (user@host): its host would be {parts.hostname or 'missing'}",
                parts)
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        return "has a port that is not a number from 1 to 65535", parts
    if not parts.hostname:
        return "names no host", parts
    if scheme == "http" and not _is_loopback(parts.hostname):
        return f"must be an https:// URL; plain http is accepted only on this machine ({LOOPBACK_HINT})", parts
    return "", parts


def clean_issuer(issuer: str) -> str:
    """The issuer as stored, or ``ValidationFailed`` on the issuer field saying what is wrong."""
    issuer = (issuer or "").strip()
    problem, parts = url_problem(issuer)
    if not problem and parts is not None:
        if parts.query:
            problem = "may not have a query (?...): an OpenID issuer is a plain https URL"
        elif parts.fragment or issuer.endswith("#"):
            problem = "may not have a fragment (#...): an OpenID issuer is a plain https URL"
    if problem:
        raise ValidationFailed(f"The issuer {problem}.", field="issuer")
    return issuer


def check_discovered_endpoints(document: dict) -> None:
    """The endpoints of a discovery document, before anything is saved or fetched from them:
    ``ExternalServiceError`` naming the endpoint, the URL and the rule it breaks."""
    for name in BROWSER_ENDPOINTS + FETCHED_ENDPOINTS:
        url = document.get(name)
        if not url and name == "userinfo_endpoint":
            continue
        if not isinstance(url, str):
            raise ExternalServiceError(f"The discovery document's {name} is not a URL.")
        problem, _ = url_problem(url)
        if problem:
            raise ExternalServiceError(
                f"The discovery document's {name} {outbound.shown(url)} was refused: it {problem}."
            )
        if name in FETCHED_ENDPOINTS:
            try:
                outbound.check_url(url)
            except outbound.OutboundRefused as exc:
                raise ExternalServiceError(f"The discovery document's {name} was refused: {exc.message}") from None
            except outbound.OutboundUnavailable:
                pass  # a name that does not resolve today is reported when it is used
