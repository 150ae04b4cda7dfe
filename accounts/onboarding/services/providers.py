"""The identity verification providers a flow may use, and how their claims are read."""

from __future__ import annotations

from django.conf import settings

from accounts.models import IdentityProvider
from accounts.onboarding import claims as claim_rules
from console.core.errors import NotFound, PermissionRefused


def development_providers_allowed() -> bool:
    return bool(settings.DEV_VERIFICATION_PROVIDER)


def verification_providers() -> list[IdentityProvider]:
    providers = IdentityProvider.objects.filter(
        kind=IdentityProvider.Kind.VERIFICATION, enabled=True
    ).exclude(authorization_endpoint="").order_by("name")
    if not development_providers_allowed():
        providers = providers.filter(development_only=False)
    return list(providers)


def default_provider() -> IdentityProvider:
    providers = verification_providers()
    if not providers:
        raise NotFound(
            "No identity verification provider is set up. An admin connects one under Settings → "
            "Identity providers (kind: Identity verification)."
        )
    return providers[0]


def usable_provider(idp: IdentityProvider | None) -> IdentityProvider:
    """``idp`` if a flow may use it; the default verification provider when none is given."""
    if idp is None or not idp.enabled or idp.kind != IdentityProvider.Kind.VERIFICATION:
        return default_provider()
    if idp.development_only and not development_providers_allowed():
        raise PermissionRefused(f"{idp.name} is a development provider; it cannot be used here.")
    return idp


def mapping_of(idp: IdentityProvider) -> claim_rules.ClaimMapping:
    return claim_rules.ClaimMapping(
        email_claim=idp.email_claim or "email", verified_claim=idp.verified_claim,
        assurance_claim=idp.assurance_claim, levels=tuple(idp.assurance_levels.split()),
        min_level=idp.min_assurance_level,
    )
