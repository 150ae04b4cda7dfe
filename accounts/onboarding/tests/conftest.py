"""A real OpenID Connect provider (npm ``oidc-provider``) playing the identity verification
vendor, its accounts (verified, unverified, low assurance), and helpers that go through its
development login pages over HTTP."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from django.core import mail
from django.utils import timezone

from accounts.models import IdentityProvider
from accounts.onboarding.services import cases
from console.testing.oidc import RunningProvider, run_oidc_provider

CLIENT_ID = "zero-trust-console"
CLIENT_SECRET = "idv-client-secret-7Kq2vNw9xR"
OTHER_CLIENT_ID = "another-application"
OTHER_SECRET = "another-application-secret-3Jd8"
TESTSERVER_CALLBACK = "http://testserver/onboarding/verify/callback/"

ACCOUNTS = {
    "ada.new@corp.example": {"name": "Ada New", "identity_verified": True, "verification_level": "high"},
    "unverified.new@corp.example": {"name": "Una Verified", "identity_verified": False, "verification_level": "high"},
    "low.new@corp.example": {"name": "Lo Assurance", "identity_verified": True, "verification_level": "low"},
    "emp@corp.example": {"name": "Emil Employee", "identity_verified": True, "verification_level": "high"},
    "imposter@elsewhere.example": {"name": "I. Poster", "identity_verified": True, "verification_level": "high"},
    # Account recovery: the verified name (and birthdate) are compared with the account's owner.
    "root@corp.example": {"name": "Root Admin", "identity_verified": True, "verification_level": "high"},
    "sec@corp.example": {"name": "SEC ADMIN", "identity_verified": True, "verification_level": "high"},
    "hr@corp.example": {"name": "Hannah HR", "identity_verified": True, "verification_level": "high"},
    "target@corp.example": {"name": "Someone Else", "identity_verified": True, "verification_level": "high"},
    "born@corp.example": {"name": "Béa  BORN", "birthdate": "1990-04-01", "identity_verified": True,
                          "verification_level": "high"},
}


@pytest.fixture(autouse=True)
def _generous_verification_limits(settings) -> None:
    """Every test verifies from 127.0.0.1; the rate-limit tests set their own limits."""
    settings.VERIFICATION_ATTEMPTS_PER_IP = 10_000
    settings.VERIFICATION_ATTEMPTS_PER_PERSON = 10_000


def _clients(*redirect_uris: str) -> list[dict]:
    return [
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": list(redirect_uris)},
        {"client_id": OTHER_CLIENT_ID, "client_secret": OTHER_SECRET, "redirect_uris": list(redirect_uris)},
    ]


@pytest.fixture(scope="module")
def idv_provider() -> Iterator[RunningProvider]:
    """For tests through Django's test client (``http://testserver``); browser tests start one
    that also knows the live server."""
    with run_oidc_provider(clients=_clients(TESTSERVER_CALLBACK), accounts=ACCOUNTS) as running:
        yield running


def connect(actor, provider: RunningProvider, **overrides) -> IdentityProvider:
    fields = {
        "name": "VerifyMe", "kind": IdentityProvider.Kind.VERIFICATION, "issuer": provider.issuer,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scopes": "openid email profile verification",
        "verified_claim": "identity_verified", "assurance_claim": "verification_level",
        "assurance_levels": "low medium high", "min_assurance_level": "medium",
    } | overrides
    from accounts.services import identity_providers

    return identity_providers.idp_create(actor=actor, **fields)


@pytest.fixture
def idv(idv_provider, super_admin) -> IdentityProvider:
    return connect(super_admin, idv_provider)


def invite(hr, idv, django_capture_on_commit_callbacks, *, work_email: str, **fields):
    """Open a case the way HR does and return it with the link from the e-mail."""
    values = {
        "legal_name": "Ada New", "personal_email": "ada.home@personal.example", "work_email": work_email,
        "start_date": timezone.localdate() + timedelta(days=7), "provider": idv,
        "link_base": "http://testserver/onboarding/invite",
    } | fields
    with django_capture_on_commit_callbacks(execute=True):
        case = cases.case_create(actor=hr, **values)
    link = re.search(r"http://testserver(/onboarding/invite/[^/\s]+/)", mail.outbox[-1].body).group(1)
    return case, link


def provider_answer(auth_url: str, login: str, *, redirect_prefix: str = TESTSERVER_CALLBACK) -> str:
    """Go through the provider's development login and consent pages as ``login``; return the
    URL it sends the browser back to (the console's callback, with code and state)."""
    session = requests.Session()
    response = session.get(auth_url, allow_redirects=True, timeout=10)
    for _ in range(6):
        form = re.search(r'<form[^>]*action="([^"]+)"', response.text)
        assert form, f"no form on the provider's page:\n{response.text[:500]}"
        prompt = re.search(r'name="prompt" value="(\w+)"', response.text).group(1)
        data = {"prompt": prompt}
        if prompt == "login":
            data |= {"login": login, "password": "any"}
        response = session.post(urljoin(response.url, html.unescape(form.group(1))), data=data,
                                allow_redirects=False, timeout=10)
        while response.status_code in (302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(redirect_prefix):
                return location
            response = session.get(location, allow_redirects=False, timeout=10)
    raise AssertionError("the provider never sent the browser back")


def callback_path(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.path}?{parts.query}"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
