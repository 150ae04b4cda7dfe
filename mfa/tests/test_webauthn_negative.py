"""WebAuthn ceremonies that must be refused, driven through the real JSON endpoints with a
software authenticator (no browser): wrong origin, wrong RP ID, replayed or foreign challenges,
sign-counter regression (a copied authenticator), expired challenges, biometrics without user
verification, and a second enrolment without a fresh verification. A positive control first
shows that the same authenticator is accepted when nothing is wrong, so each refusal is about
the one thing the test changes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import time
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from fido2 import cbor
from fido2.cose import ES256

from console.audit.models import AuditEvent
from mfa import webauthn
from mfa.models import Verification, WebAuthnAuthenticator
from mfa.services import RECENT_KEY

pytestmark = pytest.mark.django_db

RP_ID = "testserver"
ORIGIN = "https://testserver"
REGISTER_OPTIONS = "/mfa/webauthn/register/options/"
REGISTER_COMPLETE = "/mfa/webauthn/register/complete/"
VERIFY_OPTIONS = "/mfa/verify/webauthn/options/"
VERIFY_COMPLETE = "/mfa/verify/webauthn/complete/"

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40


@pytest.fixture(autouse=True)
def _webauthn_settings(settings) -> None:
    settings.WEBAUTHN_RP_ID = RP_ID
    settings.WEBAUTHN_ALLOWED_ORIGINS = [ORIGIN]
    settings.MFA_ALLOWED_AAGUIDS = []
    # The refusals below are not about rate limits.
    settings.MFA_ATTEMPTS_PER_USER = 1000
    settings.MFA_ATTEMPTS_PER_IP = 1000


# --- A software authenticator ---------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """An ES256 authenticator answering like a browser's ``credential.toJSON()``.

    Each keyword argument of ``create``/``get`` falsifies one thing a real authenticator or
    browser would have got right: the origin, the RP ID, the challenge, the UV flag, the counter."""

    def __init__(self, *, attachment: str = "cross-platform", aaguid: bytes = bytes(16)) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cose_key = ES256.from_cryptography_key(self.key.public_key())
        self.credential_id = os.urandom(32)
        self.aaguid = aaguid
        self.attachment = attachment
        self.sign_count = 0
        self.user_handle: bytes | None = None

    def _authenticator_data(self, *, rp_id: str, flags: int, counter: int, attested: bool) -> bytes:
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", counter)
        if attested:
            data += (
                self.aaguid
                + struct.pack(">H", len(self.credential_id))
                + self.credential_id
                + cbor.encode(dict(self.cose_key))
            )
        return data

    @staticmethod
    def _client_data(kind: str, challenge: bytes, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": b64url(challenge), "origin": origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode()

    def create(
        self,
        options: dict,
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        challenge: bytes | None = None,
        verify_user: bool = False,
        counter: int = 0,
    ) -> dict:
        public_key = options["publicKey"]
        self.user_handle = b64url_decode(public_key["user"]["id"])
        flags = FLAG_UP | FLAG_AT | (FLAG_UV if verify_user else 0)
        auth_data = self._authenticator_data(
            rp_id=rp_id or public_key["rp"]["id"], flags=flags, counter=counter, attested=True
        )
        self.sign_count = counter
        client_data = self._client_data("webauthn.create", challenge or b64url_decode(public_key["challenge"]), origin)
        attestation = cbor.encode({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": self.attachment,
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal" if self.attachment == "platform" else "usb"],
            },
        }

    def get(
        self,
        options: dict,
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        challenge: bytes | None = None,
        verify_user: bool = False,
        counter: int | None = None,
    ) -> dict:
        public_key = options["publicKey"]
        allowed = [b64url_decode(c["id"]) for c in public_key.get("allowCredentials", [])]
        assert self.credential_id in allowed, "the server did not offer this credential"
        self.sign_count = self.sign_count + 1 if counter is None else counter
        flags = FLAG_UP | (FLAG_UV if verify_user else 0)
        auth_data = self._authenticator_data(
            rp_id=rp_id or public_key["rpId"], flags=flags, counter=self.sign_count, attested=False
        )
        client_data = self._client_data("webauthn.get", challenge or b64url_decode(public_key["challenge"]), origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if self.user_handle is not None:
            response["userHandle"] = b64url(self.user_handle)
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": self.attachment,
            "clientExtensionResults": {},
            "response": response,
        }


# --- Talking to the endpoints --------------------------------------------------------------------


def post_json(client, url: str, body: dict):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def registration_options(client, kind: str = "security_key") -> dict:
    response = post_json(client, REGISTER_OPTIONS, {"kind": kind})
    assert response.status_code == 200, response.content
    return response.json()


def complete_registration(client, credential: dict, kind: str = "security_key", name: str = "Blue key"):
    return post_json(client, REGISTER_COMPLETE, {"kind": kind, "name": name, "credential": credential})


def authentication_options(client, methods: str = "security_key,biometrics") -> dict:
    response = post_json(client, VERIFY_OPTIONS, {"methods": methods})
    assert response.status_code == 200, response.content
    return response.json()


def complete_authentication(client, credential: dict, next_url: str = "/launcher/"):
    return post_json(client, VERIFY_COMPLETE, {"credential": credential, "next": next_url})


def enroll(client, authenticator: SoftAuthenticator, kind: str = "security_key", **falsify) -> WebAuthnAuthenticator:
    response = complete_registration(
        client, authenticator.create(registration_options(client, kind), **falsify), kind=kind
    )
    assert response.status_code == 200, response.content
    return WebAuthnAuthenticator.objects.get(credential_id=authenticator.credential_id)


def authenticate(client, authenticator: SoftAuthenticator, **falsify):
    return complete_authentication(client, authenticator.get(authentication_options(client), **falsify))


def refused(response, *fragments: str) -> str:
    """The JSON 400 every refusal gives; returns its message."""
    assert response.status_code == 400, (response.status_code, response.content)
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    for fragment in fragments:
        assert fragment.lower() in error.lower(), error
    return error


def audited(user, action: str) -> list[dict]:
    return [e.changes for e in AuditEvent.objects.filter(action=action, object_id=str(user.pk)).order_by("pk")]


def assert_audited(user, action: str, reason: str | None = None) -> dict:
    rows = audited(user, action)
    assert rows, f"no {action!r} audit row for the refusal (written, then rolled back with the exception?)"
    if reason is not None:
        assert reason.lower() in str(rows[-1].get("reason", "")).lower(), rows[-1]
    return rows[-1]


def assert_nothing_enrolled(client, user) -> None:
    assert not WebAuthnAuthenticator.objects.filter(user=user).exists()
    assert not Verification.objects.filter(user=user).exists()
    assert RECENT_KEY not in client.session
    assert not audited(user, "mfa.enrolled")


@pytest.fixture
def enrolled(client_for, employee):
    """The employee's signed-in client with one security key enrolled (this also verifies)."""
    client = client_for(employee)
    key = SoftAuthenticator()
    device = enroll(client, key)
    return SimpleNamespace(client=client, key=key, device=device, user=employee)


def verifications(user) -> int:
    return Verification.objects.filter(user=user).count()


# --- Positive control ---------------------------------------------------------------------------


def test_control_a_software_security_key_enrolls_and_verifies(client_for, employee):
    client = client_for(employee)
    key = SoftAuthenticator()
    options = registration_options(client)
    assert options["publicKey"]["rp"]["id"] == RP_ID
    response = complete_registration(client, key.create(options), name="Blue key")
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True

    device = WebAuthnAuthenticator.objects.get(user=employee)
    assert bytes(device.credential_id) == key.credential_id
    assert (device.kind, device.name, device.sign_count, device.user_verified) == ("security_key", "Blue key", 0, False)
    assert device.aaguid == "00000000-0000-0000-0000-000000000000" and device.suspected_clone_at is None
    assert audited(employee, "mfa.enrolled")[-1]["method"] == "security_key"
    assert list(Verification.objects.filter(user=employee).values_list("method", flat=True)) == ["security_key"]

    options = authentication_options(client)
    assert options["publicKey"]["rpId"] == RP_ID
    response = complete_authentication(client, key.get(options, counter=5))
    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "next": "/launcher/"}
    device.refresh_from_db()
    assert device.sign_count == 5 and device.last_used_at is not None
    assert verifications(employee) == 2
    assert not audited(employee, "mfa.failed")


def test_control_biometrics_with_user_verification_enrolls(client_for, employee):
    client = client_for(employee)
    finger = SoftAuthenticator(attachment="platform")
    device = enroll(client, finger, kind="biometrics", verify_user=True)
    assert device.kind == "biometrics" and device.user_verified is True
    response = authenticate(client, finger, verify_user=True)
    assert response.status_code == 200, response.content
    assert verifications(employee) == 2


def test_control_authenticators_without_a_counter_keep_working(enrolled):
    """Counters of 0 on both sides mean "this authenticator does not count", not a clone."""
    for _ in range(2):
        response = authenticate(enrolled.client, enrolled.key, counter=0)
        assert response.status_code == 200, response.content
    enrolled.device.refresh_from_db()
    assert enrolled.device.suspected_clone_at is None and verifications(enrolled.user) == 3


# --- 1. Wrong origin ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://testserver", "https://testserver:8443", "https://sub.testserver"]
)
def test_registration_from_another_origin_is_refused(client_for, employee, origin):
    client = client_for(employee)
    credential = SoftAuthenticator().create(registration_options(client), origin=origin)
    refused(complete_registration(client, credential), "origin")
    assert_nothing_enrolled(client, employee)
    assert_audited(employee, "mfa.enrollment_failed", reason="origin")


@pytest.mark.parametrize("origin", ["https://evil.example", "http://testserver"])
def test_authentication_from_another_origin_is_refused(enrolled, origin):
    before = verifications(enrolled.user)
    refused(authenticate(enrolled.client, enrolled.key, origin=origin), "origin")
    assert verifications(enrolled.user) == before
    enrolled.device.refresh_from_db()
    assert enrolled.device.sign_count == 0 and enrolled.device.last_used_at is None
    assert_audited(enrolled.user, "mfa.failed", reason="origin")


# --- 2. Wrong RP ID -----------------------------------------------------------------------


def test_registration_for_another_rp_id_is_refused(client_for, employee):
    client = client_for(employee)
    credential = SoftAuthenticator().create(registration_options(client), rp_id="evil.example")
    refused(complete_registration(client, credential), "RP ID")
    assert_nothing_enrolled(client, employee)
    assert_audited(employee, "mfa.enrollment_failed", reason="RP ID")


def test_authentication_for_another_rp_id_is_refused(enrolled):
    before = verifications(enrolled.user)
    refused(authenticate(enrolled.client, enrolled.key, rp_id="evil.example"), "RP ID")
    assert verifications(enrolled.user) == before
    enrolled.device.refresh_from_db()
    assert enrolled.device.sign_count == 0
    assert_audited(enrolled.user, "mfa.failed", reason="RP ID")


# --- 3. Replayed and foreign challenges ---------------------------------------------------------


def test_a_registration_cannot_be_completed_twice(client_for, employee):
    client = client_for(employee)
    key = SoftAuthenticator()
    credential = key.create(registration_options(client))
    assert complete_registration(client, credential).status_code == 200
    refused(complete_registration(client, credential), "no webauthn ceremony")
    assert WebAuthnAuthenticator.objects.filter(user=employee).count() == 1
    assert verifications(employee) == 1 and len(audited(employee, "mfa.enrolled")) == 1


def test_registration_with_a_challenge_that_was_not_issued_is_refused(client_for, employee):
    client = client_for(employee)
    credential = SoftAuthenticator().create(registration_options(client), challenge=os.urandom(32))
    refused(complete_registration(client, credential), "challenge")
    assert_nothing_enrolled(client, employee)
    assert_audited(employee, "mfa.enrollment_failed", reason="challenge")


def test_an_assertion_cannot_be_used_twice(enrolled):
    assertion = enrolled.key.get(authentication_options(enrolled.client))
    assert complete_authentication(enrolled.client, assertion).status_code == 200
    before = verifications(enrolled.user)
    refused(complete_authentication(enrolled.client, assertion), "no webauthn ceremony")
    assert verifications(enrolled.user) == before


def test_an_old_assertion_does_not_answer_a_new_challenge(enrolled):
    """Replay into a fresh ceremony: the captured assertion carries the previous challenge."""
    captured = enrolled.key.get(authentication_options(enrolled.client))
    authentication_options(enrolled.client)  # the victim's session starts a new ceremony
    before = verifications(enrolled.user)
    refused(complete_authentication(enrolled.client, captured), "challenge")
    assert verifications(enrolled.user) == before
    enrolled.device.refresh_from_db()
    assert enrolled.device.sign_count == 0
    assert_audited(enrolled.user, "mfa.failed", reason="challenge")


def test_authentication_with_a_challenge_that_was_not_issued_is_refused(enrolled):
    before = verifications(enrolled.user)
    refused(authenticate(enrolled.client, enrolled.key, challenge=os.urandom(32)), "challenge")
    assert verifications(enrolled.user) == before
    assert_audited(enrolled.user, "mfa.failed", reason="challenge")


def test_a_registration_challenge_does_not_serve_for_authentication(enrolled):
    options = registration_options(enrolled.client)
    # Sign an assertion over the registration challenge: the ceremony's purpose must match.
    assertion = enrolled.key.get(
        {
            "publicKey": {
                **options["publicKey"],
                "rpId": RP_ID,
                "allowCredentials": [{"id": b64url(enrolled.key.credential_id), "type": "public-key"}],
            }
        }
    )
    before = verifications(enrolled.user)
    refused(complete_authentication(enrolled.client, assertion), "no webauthn ceremony")
    assert verifications(enrolled.user) == before


# --- 4. Counter regression: a copied authenticator ----------------------------------------------


@pytest.mark.parametrize("presented", [3, 5])
def test_a_counter_that_does_not_increase_is_refused_as_a_possible_copy(enrolled, presented):
    assert authenticate(enrolled.client, enrolled.key, counter=5).status_code == 200
    before = verifications(enrolled.user)
    error = refused(authenticate(enrolled.client, enrolled.key, counter=presented), "copied")
    assert "blocked" in error
    assert verifications(enrolled.user) == before
    enrolled.device.refresh_from_db()
    assert enrolled.device.sign_count == 5


def test_a_suspected_copy_is_marked_and_audited(enrolled):
    assert authenticate(enrolled.client, enrolled.key, counter=5).status_code == 200
    refused(authenticate(enrolled.client, enrolled.key, counter=3), "copied")
    enrolled.device.refresh_from_db()
    assert enrolled.device.suspected_clone_at is not None, "suspected_clone_at was not kept"
    changes = assert_audited(enrolled.user, "mfa.clone_suspected")
    assert (changes["stored_counter"], changes["presented_counter"]) == (5, 3)


def test_a_suspected_copy_stays_blocked_even_with_a_higher_counter(enrolled):
    assert authenticate(enrolled.client, enrolled.key, counter=5).status_code == 200
    refused(authenticate(enrolled.client, enrolled.key, counter=3), "copied")
    before = verifications(enrolled.user)
    refused(authenticate(enrolled.client, enrolled.key, counter=6), "copied")
    assert verifications(enrolled.user) == before
    enrolled.device.refresh_from_db()
    assert enrolled.device.sign_count == 5


# --- 5. Expired challenges ------------------------------------------------------------------


def _later(monkeypatch, seconds: float) -> None:
    """Move the clock of mfa.webauthn only (not Django's, not the rate limiter's)."""
    now = time.time()
    monkeypatch.setattr(webauthn, "time", SimpleNamespace(time=lambda: now + seconds))


def test_registration_after_the_challenge_expired_is_refused(client_for, employee, monkeypatch):
    client = client_for(employee)
    credential = SoftAuthenticator().create(registration_options(client))
    _later(monkeypatch, webauthn.CHALLENGE_SECONDS + 1)
    refused(complete_registration(client, credential), "expired")
    assert_nothing_enrolled(client, employee)


def test_authentication_after_the_challenge_expired_is_refused(enrolled, monkeypatch):
    assertion = enrolled.key.get(authentication_options(enrolled.client))
    _later(monkeypatch, webauthn.CHALLENGE_SECONDS + 1)
    before = verifications(enrolled.user)
    refused(complete_authentication(enrolled.client, assertion), "expired")
    assert verifications(enrolled.user) == before
    # The expired challenge is gone too: it does not come back when the clock does.
    monkeypatch.undo()
    refused(complete_authentication(enrolled.client, assertion), "no webauthn ceremony")


def test_authentication_just_inside_the_challenge_lifetime_succeeds(enrolled, monkeypatch):
    assertion = enrolled.key.get(authentication_options(enrolled.client))
    _later(monkeypatch, webauthn.CHALLENGE_SECONDS - 5)
    assert complete_authentication(enrolled.client, assertion).status_code == 200


# --- 6. Biometrics must verify the user -----------------------------------------------------


def test_biometrics_registration_without_user_verification_is_refused(client_for, employee):
    client = client_for(employee)
    options = registration_options(client, "biometrics")
    assert options["publicKey"]["authenticatorSelection"]["userVerification"] == "required"
    credential = SoftAuthenticator(attachment="platform").create(options, verify_user=False)
    refused(complete_registration(client, credential, kind="biometrics"), "verif")
    assert_nothing_enrolled(client, employee)
    assert_audited(employee, "mfa.enrollment_failed", reason="verif")


def test_biometrics_authentication_without_user_verification_is_refused(client_for, employee):
    client = client_for(employee)
    finger = SoftAuthenticator(attachment="platform")
    enroll(client, finger, kind="biometrics", verify_user=True)
    before = verifications(employee)
    refused(authenticate(client, finger, verify_user=False), "verif")
    assert verifications(employee) == before
    assert_audited(employee, "mfa.failed", reason="verif")


# --- A second authenticator needs a fresh verification -----------------------------------------


def test_a_second_authenticator_needs_a_recent_verification(enrolled):
    # Another browser session of the same person: signed in, but not verified with MFA.
    other = Client()
    other.force_login(enrolled.user, backend="django.contrib.auth.backends.ModelBackend")
    refused(post_json(other, REGISTER_OPTIONS, {"kind": "security_key"}), "Verify")
    second = SoftAuthenticator()
    # Completing with a response built against the enrolled session's options is refused as well.
    credential = second.create(registration_options(enrolled.client))
    refused(complete_registration(other, credential, name="Second key"), "Verify")
    assert WebAuthnAuthenticator.objects.filter(user=enrolled.user).count() == 1

    # After verifying with the first key, that session may add the second one.
    assert authenticate(other, enrolled.key).status_code == 200
    enroll(other, second)
    assert WebAuthnAuthenticator.objects.filter(user=enrolled.user).count() == 2
