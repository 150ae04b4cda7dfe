"""People's proxy credentials for the web gateway.

A credential is ``ztg_<prefix>_<secret>``, sent as the password of the proxy's Basic login (the
user name is ignored: browsers send only Basic to a proxy, and the token says who it is). Only a
SHA-256 of the secret is stored and the person sees the secret once. The gateway checks a
credential against its process cache (``console.access.hotcache``): creating or revoking one bumps
the shared version after commit, so a revoked credential is refused by every gateway within
``ACCESS_CACHE_SECONDS``."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from console.access import hotcache
from console.access.decisions import service_token_hash
from console.audit.services import audit_record
from console.core.errors import PermissionRefused, ValidationFailed
from console.core.names import clean_name
from console.core.permissions import get_for_role, require_role
from console.core.roles import ADMINS, EVERYONE
from shadow_ai.gateway.models import GatewayCredential

KIND = "ztg"
MAX_ACTIVE = 10
CACHE_TABLE = "shadow_ai.gateway_credentials"


@transaction.atomic
def gateway_credential_create(*, actor: User, name: str) -> tuple[GatewayCredential, str]:
    """A new credential for the actor themselves, and its token (returned once, never stored)."""
    require_role(actor, EVERYONE, "create gateway credentials")
    name = clean_name(name, limit=80, collapse_spaces=True)
    User.objects.select_for_update().filter(pk=actor.pk).first()  # one create at a time per person
    active = GatewayCredential.objects.filter(user=actor, revoked_at__isnull=True).count()
    if active >= MAX_ACTIVE:
        raise ValidationFailed(f"You have {MAX_ACTIVE} active gateway credentials: revoke one you no longer use.",
                               field="name")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    credential = GatewayCredential.objects.create(user=actor, name=name, prefix=prefix,
                                                  secret_hash=service_token_hash(secret))
    audit_record(actor=actor, action="shadow_ai.gateway_credential.created", obj=credential,
                 changes={"name": {"old": None, "new": name}, "user": {"old": None, "new": actor.email}})
    transaction.on_commit(hotcache.bump_version)
    return credential, f"{KIND}_{prefix}_{secret}"


@transaction.atomic
def gateway_credential_revoke(*, actor: User, credential: GatewayCredential) -> bool:
    """Revoke a credential: its owner, or an admin. False when it was already revoked."""
    require_role(actor, EVERYONE, "revoke gateway credentials")
    if credential.user_id != actor.pk and actor.role not in ADMINS:
        raise PermissionRefused("Only its owner or an admin can revoke a gateway credential.")
    credential = GatewayCredential.objects.select_for_update().get(pk=credential.pk)
    if credential.revoked_at is not None:
        return False
    credential.revoked_at = timezone.now()
    credential.revoked_by_email = actor.email
    credential.save(update_fields=["revoked_at", "revoked_by_email"])
    audit_record(actor=actor, action="shadow_ai.gateway_credential.revoked", obj=credential,
                 changes={"revoked_at": {"old": None, "new": credential.revoked_at}})
    transaction.on_commit(hotcache.bump_version)
    return True


@dataclass(frozen=True)
class Known:
    """A usable credential as the gateway caches it."""

    id: int
    user_id: int
    secret_hash: str


def _load(prefix: str) -> Known | None:
    row = (GatewayCredential.objects.filter(prefix=prefix, revoked_at__isnull=True, user__is_active=True)
           .values_list("pk", "user_id", "secret_hash").first())
    return Known(*row) if row else None


def parse_token(token: str) -> tuple[str, str] | None:
    kind, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if kind != KIND or not prefix or not secret or len(prefix) > 16 or len(secret) > 100:
        return None
    return prefix, secret


def basic_password(header: str) -> str:
    """The password of a ``Basic`` ``Proxy-Authorization`` header ("" when there is none)."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return ""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


def authenticate(token: str) -> Known | None:
    """The usable credential ``token`` is, or None. Reads the process cache (a miss, once per
    version and prefix, reads the database; unknown prefixes are not kept)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    table = hotcache.table(CACHE_TABLE)
    known = table.get(prefix)
    if known is None:
        known = _load(prefix)
        if known is None:
            return None
        table[prefix] = known
    return known if hmac.compare_digest(known.secret_hash, service_token_hash(secret)) else None


def credentials_of(user: User) -> list[GatewayCredential]:
    """A person's credentials, newest first (the App Launcher lists them)."""
    return list(GatewayCredential.objects.filter(user=user))


def get_credential_for(viewer: User, pk: int) -> GatewayCredential:
    """A credential its owner or an admin may act on (404 for anyone else, so ids do not leak)."""
    queryset = GatewayCredential.objects.select_related("user")
    if getattr(viewer, "role", None) not in ADMINS:
        queryset = queryset.filter(user_id=viewer.pk)
    return get_for_role(queryset, viewer, pk, "gateway credential", EVERYONE)
