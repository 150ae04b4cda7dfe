"""The OpenID Connect side of identity verification: the authorization request (code flow with
PKCE, state and nonce), the code exchange, and ID token validation.

PyJWT does the JOSE work (``PyJWKClient`` picks the key by ``kid`` from the provider's JWKS,
fetched through the outbound policy of console/core/outbound.py; ``jwt.decode`` checks the
signature, audience and expiry); what is written here is the glue and the issuer, nonce and
authorized-party checks, each failure naming its check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
from django.conf import settings

from console.core import outbound
from console.core.errors import ExternalServiceError

# Only asymmetric signatures: a shared-secret (HS*) or unsigned token is never accepted.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

# Check names (as in the audit trail and on the case).
SIGNATURE = "signature"
ISSUER = "issuer"
AUDIENCE = "audience"
EXPIRY = "expiry"
NONCE = "nonce"
STATE = "state"
MALFORMED = "token"
PROVIDER = "provider"


class TokenRejected(Exception):
    """The provider's answer failed a protocol check. ``check`` names it; ``reason`` says why."""

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636)."""
    return _b64url(hashlib.sha256(verifier.encode()).digest())


def authorization_request(idp: Any, *, redirect_uri: str, login_hint: str = "") -> AuthorizationRequest:
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    params = {
        "response_type": "code",
        "client_id": idp.client_id,
        "redirect_uri": redirect_uri,
        "scope": idp.scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
        # A verification always happens now, at the provider, whatever session it has.
        "prompt": "login",
        "max_age": "0",
    }
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in idp.authorization_endpoint else "?"
    return AuthorizationRequest(f"{idp.authorization_endpoint}{separator}{urlencode(params)}", state, nonce, verifier)


def exchange_code(idp: Any, *, code: str, code_verifier: str, redirect_uri: str) -> dict[str, Any]:
    """The token endpoint's answer (with ``id_token``), or ``TokenRejected``/``ExternalServiceError``."""
    try:
        response = outbound.fetch(
            "POST", idp.token_endpoint,
            data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": code_verifier, "client_id": idp.client_id, "client_secret": idp.client_secret,
            },
            headers={"Accept": "application/json"},
            timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL,
        )
    except outbound.OutboundRefused as exc:
        raise ExternalServiceError(f"The token endpoint of {idp.name} was not called: {exc.message}") from None
    except outbound.OutboundError:
        raise ExternalServiceError(f"The identity provider {idp.name} could not be reached.") from None
    try:
        body = response.json()
    except outbound.OutboundBadAnswer:
        body = {}
    if response.status != 200:
        error = body.get("error", f"HTTP {response.status}") if isinstance(body, dict) else "error"
        raise TokenRejected(PROVIDER, f"The provider refused the authorization code ({str(error)[:80]}).")
    if not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
        raise TokenRejected(MALFORMED, "The provider's token answer has no ID token.")
    return body


class _OutboundJWKClient(jwt.PyJWKClient):
    """PyJWT's key selection, with the JWKS fetched through the outbound policy instead of
    urllib (which would open ``file://`` and follow no policy at all)."""

    def __init__(self, uri: str, *, provider: str) -> None:
        super().__init__(uri, cache_keys=False, cache_jwk_set=False, timeout=settings.OIDC_TIMEOUT)
        self.provider = provider

    def fetch_data(self) -> Any:
        try:
            answer = outbound.fetch("GET", self.uri, headers={"Accept": "application/json"},
                                    timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
        except outbound.OutboundRefused as exc:
            raise ExternalServiceError(f"The signing keys of {self.provider} were not fetched: {exc.message}") from None
        except outbound.OutboundError as exc:
            raise jwt.PyJWKClientConnectionError(exc.message) from None
        if answer.status != 200:
            raise jwt.PyJWKClientConnectionError(f"the JWKS answered HTTP {answer.status}")
        try:
            return answer.json()
        except outbound.OutboundBadAnswer as exc:
            raise jwt.PyJWKClientError(exc.message) from None


def _jwks_client(idp: Any) -> jwt.PyJWKClient:
    try:
        outbound.parse_url(idp.jwks_uri)
    except outbound.OutboundRefused as exc:
        raise ExternalServiceError(f"The signing keys of {idp.name} were not fetched: {exc.message}") from None
    return _OutboundJWKClient(idp.jwks_uri, provider=idp.name)


def validate_id_token(idp: Any, id_token: str, *, nonce: str, leeway: int | None = None) -> dict[str, Any]:
    """The ID token's claims once its signature (JWKS), issuer, audience, expiry and nonce are
    right; otherwise ``TokenRejected`` naming the check."""
    leeway = settings.VERIFICATION_CLOCK_SKEW_SECONDS if leeway is None else leeway
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.DecodeError:
        raise TokenRejected(MALFORMED, "The ID token is not a signed JWT.")
    if header.get("alg") not in ALGORITHMS:
        raise TokenRejected(SIGNATURE,
                            f"The ID token is signed with {header.get('alg')!r}, not a public-key algorithm.")
    try:
        key = _jwks_client(idp).get_signing_key_from_jwt(id_token)
    except jwt.PyJWKClientConnectionError:
        raise ExternalServiceError(f"The signing keys of {idp.name} could not be fetched.")
    except jwt.PyJWKClientError as exc:
        raise TokenRejected(SIGNATURE, f"No published signing key matches the ID token ({exc}).")
    try:
        claims = jwt.decode(
            id_token, key.key, algorithms=[header["alg"]], audience=idp.client_id, leeway=leeway,
            options={"verify_iss": False, "require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.InvalidSignatureError:
        raise TokenRejected(SIGNATURE, "The ID token's signature does not match the provider's keys.")
    except jwt.ExpiredSignatureError:
        raise TokenRejected(EXPIRY, "The ID token has expired.")
    except jwt.InvalidAudienceError:
        raise TokenRejected(AUDIENCE, "The ID token was issued for another client, not this console.")
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRejected(MALFORMED, f"The ID token lacks the {exc.claim} claim.")
    except jwt.ImmatureSignatureError:
        raise TokenRejected(EXPIRY, "The ID token is not valid yet (check the clocks).")
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(MALFORMED, f"The ID token is not valid ({exc.__class__.__name__}).")
    if str(claims.get("iss", "")).rstrip("/") != idp.issuer.rstrip("/"):
        raise TokenRejected(ISSUER, "The ID token was issued by another issuer.")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != idp.client_id:
        raise TokenRejected(AUDIENCE, "The ID token names another authorized party.")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise TokenRejected(NONCE, "The ID token's nonce is not the one this browser's verification sent.")
    return claims


def transaction_id(claims: dict[str, Any], id_token: str) -> str:
    """The provider's transaction id (``txn``, else ``jti``), else a digest of the token."""
    for name in ("txn", "jti"):
        if claims.get(name):
            return str(claims[name])[:255]
    return "sha256:" + hashlib.sha256(id_token.encode()).hexdigest()[:40]
