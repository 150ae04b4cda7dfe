"""A software WebAuthn authenticator for tests through Django's test client: an ES256 key pair
that makes real assertions (authenticator data, client data, signature) the server checks with
python-fido2 exactly as it checks a browser's. Browser tests use Chromium's virtual authenticator
instead."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.webauthn import AttestedCredentialData, AuthenticatorData

from mfa.models import Method, WebAuthnAuthenticator


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftwareKey:
    rp_id: str = "testserver"
    origin: str = "http://testserver"
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    counter: int = 0

    def enroll(self, user, *, name: str = "Software key", kind: str = Method.SECURITY_KEY) -> WebAuthnAuthenticator:
        """Store the credential as an enrolment would (the test's setup, not what is tested)."""
        data = AttestedCredentialData.create(b"\0" * 16, self.credential_id,
                                             ES256.from_cryptography_key(self.private_key.public_key()))
        return WebAuthnAuthenticator.objects.create(
            user=user, name=name, kind=kind, credential_id=self.credential_id, credential_data=bytes(data),
            confirmed=True,
        )

    def assertion(self, options: dict, *, user_handle: bytes | None, verified: bool = True,
                  counter: int | None = None, origin: str | None = None) -> dict:
        """The answer to the request ``options`` (the JSON the console sent), as
        ``credential.toJSON()`` gives it in a browser."""
        self.counter = self.counter + 1 if counter is None else counter
        flags = AuthenticatorData.FLAG.UP | (AuthenticatorData.FLAG.UV if verified else 0)
        auth_data = bytes(AuthenticatorData.create(hashlib.sha256(self.rp_id.encode()).digest(),
                                                   AuthenticatorData.FLAG(flags), self.counter))
        client_data = json.dumps({"type": "webauthn.get", "challenge": options["publicKey"]["challenge"],
                                  "origin": origin or self.origin, "crossOrigin": False}).encode()
        signature = self.private_key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                          ec.ECDSA(hashes.SHA256()))
        response = {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature)}
        if user_handle is not None:
            response["userHandle"] = b64url(user_handle)
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                "response": response, "clientExtensionResults": {}, "authenticatorAttachment": "cross-platform"}
