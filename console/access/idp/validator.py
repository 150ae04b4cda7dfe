"""django-oauth-toolkit's request validator, fitted to the console: ID tokens signed with the
console's provider keys (``keys``), the claims people and SaaS applications need (e-mail, name,
groups, ``amr``), what the sign-in proved carried from the authorization request to the token
request (``SignIn``), and PKCE per client."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from jwcrypto import jws, jwt
from oauth2_provider.models import get_grant_model
from oauth2_provider.oauth2_validators import OAuth2Validator

from accounts.selectors import user_groups
from console.access.idp import keys
from console.access.idp.models import Client, SignIn


def pkce_required(client_id: str) -> bool:
    """PKCE_REQUIRED: always for public clients, and for confidential ones unless an admin turned
    it off for an application that cannot send it."""
    client = Client.objects.select_related("oauth").filter(oauth__client_id=client_id).first()
    if client is None:
        return True
    return client.oauth.client_type == client.oauth.CLIENT_PUBLIC or client.require_pkce


class ConsoleValidator(OAuth2Validator):
    oidc_claim_scope = {
        "sub": "openid",
        "amr": "openid",
        "email": "email",
        "email_verified": "email",
        "name": "profile",
        "preferred_username": "profile",
        "groups": "groups",
    }

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        return {
            "email": user.email,
            "email_verified": True,  # people are added to the directory by admins or HR, not by themselves
            "name": user.full_name or user.email,
            "preferred_username": user.email,
            "groups": [group.name for group in user_groups(user)],
        }

    # --- prompt=none: the authorization view has already dealt with it ----------------------------

    def validate_silent_login(self, request: Any) -> bool:
        """The view answered login_required to a visitor who is not signed in; here one is."""
        return True

    def validate_silent_authorization(self, request: Any) -> bool:
        """There is no consent to give: an admin registered the application (and the Access
        decision, made before this, challenged or refused where it had to)."""
        return True

    # --- What the sign-in proved, from the authorization request to the token request ------

    def save_authorization_code(self, client_id: str, code: dict, request: Any, *args: Any, **kwargs: Any) -> None:
        grant = self._create_authorization_code(request, code)
        proved = getattr(request, "console_sign_in", None) or {}
        auth_time = proved.get("auth_time")
        SignIn.objects.create(
            client=request.client.console, user=request.user, grant=grant,
            access_session_id=proved.get("access_session_id") or None,
            identity_provider=proved.get("identity_provider", "")[:60], amr=list(proved.get("amr") or []),
            auth_time=datetime.fromisoformat(auth_time) if auth_time else timezone.now(),
        )

    def validate_code(self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        grant = get_grant_model().objects.filter(code=code, application=client).first()
        request.console_sign_in = SignIn.objects.filter(grant=grant).first() if grant else None
        return True

    def get_id_token_dictionary(self, token: Any, token_handler: Any, request: Any) -> tuple[dict, Any]:
        claims, expiration = super().get_id_token_dictionary(token, token_handler, request)
        sign_in: SignIn | None = getattr(request, "console_sign_in", None)
        if sign_in is not None:
            claims["amr"] = list(sign_in.amr)
            claims["auth_time"] = int(sign_in.auth_time.timestamp())
            if sign_in.access_session_id:
                claims["sid"] = str(sign_in.access_session_id)
        return claims, expiration

    # --- Signing and verifying ID tokens with the provider keys --------------------------------

    def finalize_id_token(self, id_token: dict, token: Any, token_handler: Any, request: Any) -> str:
        claims, expiration = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        key = keys.current_key()
        signed = jwt.JWT(
            header=json.dumps({"typ": "JWT", "alg": keys.ALGORITHM, "kid": key.kid}),
            claims=json.dumps(id_token, default=str),
        )
        signed.make_signed_token(keys.signing_jwk(key))
        with transaction.atomic():
            saved = self._save_id_token(id_token["jti"], request, expiration)
        request.access_token = saved
        request.id_token = saved
        return signed.serialize()

    def _get_key_for_token(self, token: str) -> Any:
        """The published key named by the token's ``kid``, if the token is for one of our clients
        (RP-initiated logout reads ``id_token_hint`` through this)."""
        unverified = jws.JWS()
        unverified.deserialize(token)
        header = unverified.jose_header
        claims = json.loads(unverified.objects["payload"].decode("utf-8"))
        if header.get("alg") != keys.ALGORITHM or "aud" not in claims:
            return None
        if self._get_client_by_audience(claims["aud"]) is None:
            return None
        kid = header.get("kid")
        return keys.public_jwk(kid) if isinstance(kid, str) else None
