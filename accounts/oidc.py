"""OpenID Connect sign-in through mozilla-django-oidc, with providers configured in the console.

mozilla-django-oidc reads one provider from settings; here the provider is chosen per request
(``/accounts/oidc/<slug>/start/``), remembered in the session under the OAuth ``state``, and its
endpoints and credentials are set on the view and backend at request time.

mozilla-django-oidc checks the ID token's signature, algorithm, expiry and nonce but not its
issuer or audience: ``ProviderOIDCBackend.verify_token`` checks both."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts import idp_trust, provider_urls
from accounts.models import IdentityProvider, IdentityProviderLink, User, normalize_email
from console.audit.services import audit_record
from console.core import outbound
from console.core.errors import ExternalServiceError

log = logging.getLogger(__name__)

SESSION_KEY = "oidc_provider_for_state"
REQUIRED_DISCOVERY_KEYS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


def _get_json(url: str, what: str) -> dict:
    """A JSON document from the provider, through the outbound policy (console/core/outbound.py)."""
    try:
        answer = outbound.fetch("GET", url, headers={"Accept": "application/json"},
                                timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
    except outbound.OutboundRefused as exc:
        raise ExternalServiceError(f"The {what} was not fetched: {exc.message}") from None
    except outbound.OutboundUnavailable as exc:
        if exc.stage == "connect":
            raise ExternalServiceError(f"Could not connect to {exc.url} to fetch the {what}: {exc.reason}.") from None
        raise ExternalServiceError(f"{exc.url} did not answer properly ({what}): {exc.reason}.") from None
    except outbound.OutboundBadAnswer as exc:
        raise ExternalServiceError(f"The {what} could not be read: {exc.message}") from None
    if answer.status != 200:
        raise ExternalServiceError(f"The {what} at {outbound.shown(url)} answered HTTP {answer.status}.")
    try:
        document = json.loads(answer.content)
    except ValueError:
        raise ExternalServiceError(f"The {what} at {outbound.shown(url)} is not JSON.") from None
    if not isinstance(document, dict):
        raise ExternalServiceError(f"The {what} at {outbound.shown(url)} is not a JSON object.")
    return document


def discover(issuer: str) -> dict:
    """Fetch and check the provider's discovery document."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = _get_json(url, "discovery document")
    missing = [key for key in REQUIRED_DISCOVERY_KEYS if not document.get(key)]
    if missing:
        raise ExternalServiceError(f"The discovery document lacks {', '.join(missing)}.")
    if document["issuer"].rstrip("/") != issuer.rstrip("/"):
        raise ExternalServiceError(
            f"The discovery document names the issuer {document['issuer']}, "
            f"not {issuer}: check the issuer URL."
        )
    provider_urls.check_discovered_endpoints(document)
    return document


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str


def test_connection(idp: Any) -> list[CheckResult]:
    """What an admin needs to know about a provider, each step saying what is wrong."""
    results: list[CheckResult] = []
    try:
        document = discover(idp.issuer)
    except ExternalServiceError as exc:
        return [CheckResult("Discovery", False, exc.message)]
    results.append(CheckResult("Discovery", True, f"Issuer {document['issuer']} answered."))
    algs = document.get("id_token_signing_alg_values_supported") or []
    results.append(CheckResult(
        "Signing algorithm",
        "RS256" in algs,
        "RS256 is supported." if "RS256" in algs else f"RS256 is not offered (offered: {', '.join(algs) or 'none'}).",
    ))
    methods = document.get("code_challenge_methods_supported") or []
    results.append(CheckResult(
        "PKCE", "S256" in methods or not methods,
        "S256 is supported." if "S256" in methods else "The provider does not advertise PKCE S256.",
    ))
    scopes = set(document.get("scopes_supported") or [])
    wanted = set(idp.scopes.split())
    unsupported = sorted(wanted - scopes) if scopes else []
    results.append(CheckResult(
        "Scopes", not unsupported,
        "All requested scopes are offered." if not unsupported
        else f"Not offered by the provider: {', '.join(unsupported)}.",
    ))
    results.append(_check_jwks(document["jwks_uri"]))
    if idp.kind == "verification":
        results.extend(_check_verification(idp, document))
    if not idp.has_secret:
        results.append(CheckResult("Client secret", False, "No client secret is stored."))
    return results


def _check_jwks(jwks_uri: str) -> CheckResult:
    """The published signing keys, with what is wrong with them if anything."""
    try:
        jwks = _get_json(jwks_uri, "key set (JWKS)")
    except ExternalServiceError as exc:
        return CheckResult("Signing keys", False, exc.message)
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        return CheckResult("Signing keys", False, f"The JWKS at {jwks_uri} has no keys.")
    signing = [k for k in keys if isinstance(k, dict) and k.get("use", "sig") == "sig"
               and k.get("kty") in ("RSA", "EC", "OKP")]
    if not signing:
        return CheckResult("Signing keys", False,
                           "The JWKS has no public signing key (RSA, EC or OKP with use sig).")
    rsa = [k for k in signing if k.get("kty") == "RSA"]
    without_kid = [k for k in signing if not k.get("kid")]
    if len(signing) > 1 and without_kid:
        return CheckResult("Signing keys", False,
                           f"{len(without_kid)} of {len(signing)} signing keys have no kid: "
                           "tokens cannot name their key.")
    return CheckResult("Signing keys", True, f"{len(rsa)} RSA key(s) published." if rsa
                       else f"{len(signing)} signing key(s) published.")


def _check_verification(idp: Any, document: dict) -> list[CheckResult]:
    """What an identity verification provider must also offer: the mapped claims, and not be a
    development provider where those are refused."""
    results = []
    supported = document.get("claims_supported")
    wanted = [c for c in (idp.email_claim, idp.verified_claim, idp.assurance_claim) if c]
    if isinstance(supported, list) and supported:
        missing = [c for c in wanted if c.split(".")[0] not in supported]
        results.append(CheckResult(
            "Claims", not missing,
            f"The provider offers {', '.join(wanted)}." if not missing
            else f"The provider does not list {', '.join(missing)} in claims_supported: check the claim mapping.",
        ))
    else:
        results.append(CheckResult("Claims", True,
                                   "The provider does not list its claims; a test verification shows them."))
    if document.get("x_development_only") is True:
        allowed = bool(settings.DEV_VERIFICATION_PROVIDER)
        results.append(CheckResult(
            "Development provider", allowed,
            "For development only: accepted here because DEV_VERIFICATION_PROVIDER is on." if allowed
            else "This provider is for development only and is refused with these settings.",
        ))
    return results


def _enabled_provider(slug: str):
    """Only primary providers sign people in: an identity verification provider proves who
    someone is for onboarding and step-up, and must never open a session by itself."""

    return IdentityProvider.objects.filter(slug=slug, enabled=True, kind=IdentityProvider.Kind.PRIMARY).first()


class ProviderAuthenticationRequestView(OIDCAuthenticationRequestView):
    """Starts the authorization code flow (with PKCE, state and nonce) for one provider."""

    def __init__(self, **kwargs: Any) -> None:
        # The parent reads one provider from settings here; ours is known only per request.
        super(OIDCAuthenticationRequestView, self).__init__(**kwargs)
        self.provider = None

    def get_settings(self, attr: str, *args: Any) -> Any:  # type: ignore[override]
        if attr == "OIDC_RP_SCOPES" and self.provider is not None:
            return self.provider.scopes

        return import_from_settings(attr, *args)

    def get(self, request: HttpRequest, slug: str) -> HttpResponse:  # type: ignore[override]
        self.provider = _enabled_provider(slug)
        if self.provider is None or not self.provider.authorization_endpoint:
            messages.error(request, "That sign-in provider is not available.")
            return HttpResponseRedirect(reverse("accounts:login"))
        self.OIDC_OP_AUTH_ENDPOINT = self.provider.authorization_endpoint
        self.OIDC_RP_CLIENT_ID = self.provider.client_id
        response = super().get(request)
        state = parse_qs(urlparse(response["Location"]).query)["state"][0]
        by_state = request.session.get(SESSION_KEY, {})
        by_state[state] = self.provider.slug
        request.session[SESSION_KEY] = by_state
        return response


class ProviderAuthenticationCallbackView(OIDCAuthenticationCallbackView):
    """Finishes the flow; failures go back to the sign-in page with a reason."""

    @property
    def failure_url(self) -> str:
        return reverse("accounts:login")

    @property
    def success_url(self) -> str:
        next_url = self.request.session.get("oidc_login_next")
        return next_url or resolve_url(settings.LOGIN_REDIRECT_URL)

    def login_failure(self) -> HttpResponse:
        if getattr(self.request, "oidc_link_pending", False):
            # A genuine answer for an existing account that this provider is not linked to yet:
            # the person proves who they are before the link is made (accounts.views.oidc_link).
            return HttpResponseRedirect(reverse("accounts:oidc-link"))
        reason = getattr(self.request, "oidc_failure_reason", None)
        if self.request.GET.get("error"):
            # The provider's error and error_description are whatever the caller of this URL
            # chose: they are logged and audited, never shown.
            _record_provider_error(self.request)
            reason = "the identity provider refused or cancelled the sign-in"
        messages.error(
            self.request,
            f"Sign-in with the identity provider failed: {reason or 'the answer could not be verified'}.",
        )
        return HttpResponseRedirect(self.failure_url)

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            return super().get(request)
        except SuspiciousOperation as exc:
            request.oidc_failure_reason = str(exc)  # type: ignore[attr-defined]
            return self.login_failure()
        except (requests.exceptions.RequestException, ExternalServiceError) as exc:
            log.warning("OIDC token exchange failed: %s", exc)
            request.oidc_failure_reason = "the identity provider could not be reached"  # type: ignore[attr-defined]
            return self.login_failure()


def _record_provider_error(request: HttpRequest) -> None:
    error = str(request.GET.get("error", ""))[:64]
    description = str(request.GET.get("error_description", ""))[:500]
    log.warning("OIDC provider answered with an error: %r %r", error, description)
    audit_record(
        actor=None, action="auth.oidc_error", object_type="accounts.identityprovider",
        object_repr="OpenID Connect callback", changes={"error": error, "error_description": description},
    )


class ProviderOIDCBackend(OIDCAuthenticationBackend):
    """Authenticates the callback of a console-configured provider."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.UserModel = get_user_model()
        self.provider = None
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None

    def _load_provider(self, request: HttpRequest) -> bool:
        state = request.GET.get("state", "")
        by_state = request.session.get(SESSION_KEY, {})
        slug = by_state.pop(state, None)  # one use per state
        request.session[SESSION_KEY] = by_state
        self.provider = _enabled_provider(slug) if slug else None
        if self.provider is None:
            request.oidc_failure_reason = (  # type: ignore[attr-defined]
                "that sign-in provider is no longer available" if slug
                else "the sign-in started in another browser or expired"
            )
            return False
        self.OIDC_OP_TOKEN_ENDPOINT = self.provider.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = self.provider.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = self.provider.jwks_uri
        self.OIDC_RP_CLIENT_ID = self.provider.client_id
        self.OIDC_RP_CLIENT_SECRET = self.provider.client_secret
        return True

    def authenticate(self, request: HttpRequest | None, **kwargs: Any):  # type: ignore[override]
        if request is None or "code" not in request.GET or "state" not in request.GET:
            return None
        if not self._load_provider(request):
            return None
        user = super().authenticate(request, **kwargs)
        if user is not None:
            request.oidc_provider_slug = self.provider.slug  # type: ignore[attr-defined]
        if user is None:
            request.oidc_failure_reason = getattr(  # type: ignore[attr-defined]
                request, "oidc_failure_reason", "no active account matches your e-mail"
            )
        return user

    def verify_token(self, token: str, **kwargs: Any) -> dict:
        payload = super().verify_token(token, **kwargs)
        issuer = self.provider.issuer.rstrip("/")
        if str(payload.get("iss", "")).rstrip("/") != issuer:
            raise SuspiciousOperation("the ID token was issued by another issuer")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.provider.client_id not in audiences:
            raise SuspiciousOperation("the ID token was not issued for this console")
        if isinstance(audience, list) and len(audiences) > 1 and payload.get("azp") != self.provider.client_id:
            raise SuspiciousOperation("the ID token names another authorized party")
        self.id_token_claims = payload
        amr = payload.get("amr")
        if isinstance(amr, list):
            self.request.oidc_amr = [str(a)[:40] for a in amr][:20]
        return payload

    # mozilla-django-oidc fetches with requests directly; these three go through the outbound
    # policy instead (console/core/outbound.py), with the library's own semantics otherwise.

    def retrieve_matching_jwk(self, token: str) -> jwt.PyJWK:
        jwks = _get_json(self.OIDC_OP_JWKS_ENDPOINT, "key set (JWKS)")
        header = jwt.get_unverified_header(token)
        key = None
        for jwk in jwks.get("keys") or []:
            if not isinstance(jwk, dict) or jwk.get("kid") != header.get("kid"):
                continue
            if "alg" in jwk and jwk["alg"] != header.get("alg"):
                continue
            key = jwk
        if key is None:
            raise SuspiciousOperation("Could not find a valid JWKS.")
        try:
            return jwt.PyJWK(key)
        except jwt.PyJWKError:
            raise SuspiciousOperation("the provider's signing key could not be read") from None

    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> outbound.Answer:
        answer = outbound.fetch(method, url, headers={"Accept": "application/json", **kwargs.pop("headers", {})},
                                timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL, **kwargs)
        if answer.status != 200:
            raise ExternalServiceError(f"The {what} of {self.provider.name} answered HTTP {answer.status}.")
        return answer

    def get_token(self, payload: dict) -> dict:
        body = self._call("POST", self.OIDC_OP_TOKEN_ENDPOINT, "token endpoint", data=payload).json()
        if not isinstance(body, dict):
            raise ExternalServiceError(f"The token endpoint of {self.provider.name} did not answer a JSON object.")
        return body

    def _fetch_userinfo(self, access_token: str) -> dict:
        answer = self._call("GET", self.OIDC_OP_USER_ENDPOINT, "userinfo endpoint",
                            headers={"Authorization": f"Bearer {access_token}"})
        if answer.headers.get("Content-Type", "").lower().startswith("application/jwt"):
            return self.verify_token(answer.text)  # userinfo claims may come as a signed JWT
        body = answer.json()
        if not isinstance(body, dict):
            raise ExternalServiceError(f"The userinfo endpoint of {self.provider.name} did not answer a JSON object.")
        return body

    def get_userinfo(self, access_token: str, id_token: str, payload: dict) -> dict:
        claims = dict(payload)
        if self.provider.userinfo_endpoint:
            userinfo = self._fetch_userinfo(access_token)
            if userinfo.get("sub") != payload.get("sub"):
                raise SuspiciousOperation("the userinfo answer is about another subject")
            claims.update(userinfo)
        return claims

    def _email(self, claims: dict) -> str:
        return normalize_email(str(claims.get(self.provider.email_claim, "")))

    def verify_claims(self, claims: dict) -> bool:
        if not self._email(claims):
            self.request.oidc_failure_reason = (
                f"the provider sent no {self.provider.email_claim} claim"
            )
            return False
        return True

    def filter_users_by_claims(self, claims: dict):
        # Only the linked subject identifies an account (accounts.idp_trust.resolve).
        return self.UserModel.objects.none()

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict):
        """The account is chosen by ``accounts.idp_trust``: the domains and people the provider
        is bound to, the roles it bars, and the link of its subject (never the e-mail alone)."""

        user_info = self.get_userinfo(access_token, id_token, payload)
        if not self.verify_claims(user_info):
            return None
        email = self._email(user_info)
        try:
            outcome = idp_trust.resolve(provider=self.provider, claims=user_info, email=email)
        except idp_trust.SignInRefused as exc:
            idp_trust.audit_refusal(provider=self.provider, email=email, exc=exc)
            self.request.oidc_failure_reason = exc.message
            return None
        if outcome.link_user is not None:
            idp_trust.pending_store(
                self.request, provider=self.provider, user=outcome.link_user, subject=str(user_info["sub"]),
                email=email, amr=list(getattr(self.request, "oidc_amr", None) or []),
            )
            self.request.oidc_link_pending = True
            return None
        if outcome.create:
            return self.create_user(user_info)

        IdentityProviderLink.objects.filter(provider=self.provider, user=outcome.user).update(
            last_used_at=timezone.now()
        )
        return outcome.user

    def create_user(self, claims: dict):
        """An Employee account made by this provider, linked to its subject at once."""
        # accounts.services.identity_providers imports this module: imported on use to break the cycle.
        from accounts.services.identity_providers import idp_link_create

        with transaction.atomic():
            user = User.objects.create_user(
                email=self._email(claims),
                full_name=str(claims.get("name") or self._email(claims))[:200],
                source=User.Source.OIDC,
            )

            audit_record(
                actor=None, action="user.created", obj=user,
                changes={"email": {"old": None, "new": user.email},
                         "source": {"old": None, "new": f"oidc:{self.provider.slug}"}},
            )
            idp_link_create(actor=None, provider=self.provider, user=user, subject=str(claims["sub"])[:255],
                            proof=IdentityProviderLink.Proof.CREATED)
        return user

    def get_user(self, user_id: int):
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None
