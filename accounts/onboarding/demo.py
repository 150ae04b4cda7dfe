"""Demo onboarding (idempotent): the development identity-verification provider that ``./dev run``
starts, one new hire invited (the e-mail is in the Outbox) and one whose verification failed."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Group, IdentityProvider, User
from accounts.onboarding.models import OnboardingCase, VerificationRecord
from accounts.onboarding.services import cases
from console.audit.services import audit_record
from console.core import demo

DEV_SLUG = "dev-verification"
DOMAIN = "acme.example"


def _dev_provider() -> IdentityProvider | None:
    if not settings.DEV_VERIFICATION_PROVIDER or not settings.DEV_VERIFICATION_PROVIDER_CLIENT_SECRET:
        return None
    issuer = settings.DEV_VERIFICATION_PROVIDER_URL.rstrip("/")
    # The endpoints of npm oidc-provider, so the demo needs no running provider to be seeded.
    idp, _ = IdentityProvider.objects.update_or_create(slug=DEV_SLUG, defaults={
        "name": "Development identity verification", "kind": IdentityProvider.Kind.VERIFICATION,
        "issuer": issuer, "client_id": "console-dev",
        "client_secret": settings.DEV_VERIFICATION_PROVIDER_CLIENT_SECRET,
        "scopes": "openid email profile verification", "email_claim": "email",
        "verified_claim": "identity_verified", "assurance_claim": "verification_level",
        "assurance_levels": "low medium high", "min_assurance_level": "medium", "enabled": True,
        "authorization_endpoint": f"{issuer}/auth", "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/me", "jwks_uri": f"{issuer}/jwks", "development_only": True,
        "discovered_at": timezone.now(),
    })
    return idp


@transaction.atomic
def seed_onboarding_demo() -> dict[str, int]:
    idp = _dev_provider()
    hr = User.objects.filter(email=f"hr@{DOMAIN}").first()
    if idp is None or hr is None:
        return {"providers": 0, "cases": 0}
    engineering = Group.objects.filter(name="Engineering").first()
    # The head of Engineering (the demo gives each group's head the first title of its list).
    manager = User.objects.filter(memberships__group=engineering, title="VP Engineering").first() \
        if engineering else None
    created = 0
    work = f"jordan.rivera@{DOMAIN}"
    if not OnboardingCase.objects.filter(work_email=work).exists() and not User.objects.filter(email=work).exists():
        cases.case_create(
            actor=hr, legal_name="Jordan Rivera", personal_email="jordan.rivera@personal.example", work_email=work,
            # HR invites without groups: only an admin puts people into groups.
            start_date=timezone.localdate() + timedelta(days=10), manager=manager, provider=idp,
            link_base=f"{settings.CONSOLE_URL.rstrip('/')}/onboarding/invite",
        )
        created += 1
    work = f"morgan.blake@{DOMAIN}"
    if not OnboardingCase.objects.filter(work_email=work).exists():
        now = timezone.now()
        reason = "The verification_level claim is low; the minimum accepted is medium."
        case = OnboardingCase.objects.create(
            legal_name="Morgan Blake", personal_email="morgan.blake@personal.example", work_email=work,
            start_date=timezone.localdate() + timedelta(days=4), manager=manager, provider=idp, created_by=hr,
            invitation_token_hash=secrets.token_hex(32), invitation_sent_at=now - timedelta(days=1),
            invitation_expires_at=now + timedelta(days=2), invitation_used_at=now - timedelta(hours=20),
            status=OnboardingCase.Status.FAILED, failure_check="assurance_level", failure_reason=reason,
            failed_at=now - timedelta(hours=20),
        )
        VerificationRecord.objects.create(
            case=case, provider=idp, provider_name=idp.name, purpose=VerificationRecord.Purpose.ONBOARDING,
            outcome=VerificationRecord.Outcome.FAILED, failed_check="assurance_level", reason=reason, email=work,
            transaction_id="dev-txn-demo", assurance_level="low",
            claims={"email": work, "identity_verified": True, "verification_level": "low"},
            at=now - timedelta(hours=20),
        )
        audit_record(actor=hr, action="onboarding.case.created", obj=case, changes={"work_email": work, "demo": True})
        audit_record(actor=None, action="identity.verification_failed", obj=case,
                     changes={"check": "assurance_level", "reason": reason, "purpose": "onboarding",
                              "provider": idp.slug})
        audit_record(actor=None, action="onboarding.case.failed", obj=case,
                     changes={"status": {"old": "verification_pending", "new": "failed"}, "check": "assurance_level"})
        created += 1
    return {"providers": 1, "cases": created}


@demo.register("onboarding", order=40)
def seed_step(run: demo.DemoRun) -> list[str]:
    onboarding = seed_onboarding_demo()
    if not onboarding["providers"]:
        return []
    return [f"Onboarding: the development identity-verification provider and {onboarding['cases']} new case(s)."]
