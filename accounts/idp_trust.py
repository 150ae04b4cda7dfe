"""Whom a primary identity provider may sign in, and as which account.

An identity provider is trusted only for what a Super Admin bound to it: e-mail domains and
individual addresses (``IdentityProvider.allowed_domains`` / ``allowed_emails``), never for the
roles it bars (``barred_roles``, both admin roles by default). Inside those bounds, the account is
the one linked to the provider's subject (``sub``); an existing account with no link to this
provider is only reached after the person proves themselves (see ``accounts.views.oidc_link``),
never on the e-mail claim alone.

``resolve`` is the decision: provider + verified claims in, an ``Outcome`` or ``SignInRefused``
out. It reads the database but writes nothing; the callback and the link page act on it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from accounts.models import IdentityProvider, IdentityProviderLink, User, normalize_email
from console.audit.services import audit_record
from console.core.errors import ConsoleError
from console.core.roles import Role

log = logging.getLogger(__name__)

PENDING_KEY = "oidc_pending_link"
PENDING_SECONDS = 600


class SignInRefused(ConsoleError):
    """The provider's answer was genuine but does not let this person in. ``check`` names the
    rule for the audit trail; the message is shown on the sign-in page."""

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message)
        self.check = check


@dataclass(frozen=True)
class Outcome:
    """``user`` signs in now; ``link_user`` must first prove it is them; ``create`` makes a new
    Employee account linked to the subject."""

    user: User | None = None
    link_user: User | None = None
    create: bool = False


def email_verified(claims: dict[str, Any]) -> bool:
    """Only an explicit true counts; some providers send the string "true"."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def check_account(provider: IdentityProvider, user: User) -> None:
    """What every account reached through ``provider`` must satisfy, linked or not."""
    if not user.is_active:
        raise SignInRefused("your account is deactivated", check="inactive")
    if not provider.trusts_email(user.email):
        raise SignInRefused(
            f"{provider.name} is not trusted for {user.email}; sign in with your password or ask an administrator",
            check="binding",
        )
    if user.role in provider.barred_roles:
        raise SignInRefused(
            f"{Role(user.role).label} accounts cannot sign in through {provider.name}; "
            "sign in with your password",
            check="role_barred",
        )


def resolve(*, provider: IdentityProvider, claims: dict[str, Any], email: str) -> Outcome:
    """The account a verified answer of ``provider`` signs in, or why none."""
    subject = str(claims.get("sub") or "")[:255]
    if not subject:
        raise SignInRefused("the provider sent no subject (sub)", check="subject")
    if not email_verified(claims):
        raise SignInRefused(
            f"{provider.name} does not say that {email} is verified (email_verified must be true)",
            check="email_verified",
        )
    if not provider.trusts_email(email):
        raise SignInRefused(
            f"{provider.name} is not trusted for {email}: it is bound to other e-mail domains. "
            "Ask an administrator",
            check="binding",
        )
    link = IdentityProviderLink.objects.select_related("user").filter(provider=provider, subject=subject).first()
    if link is not None:
        check_account(provider, link.user)
        return Outcome(user=link.user)
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        if not provider.create_users:
            raise SignInRefused(f"no account exists for {email}; ask an administrator", check="no_account")
        return Outcome(create=True)
    check_account(provider, user)
    if IdentityProviderLink.objects.filter(provider=provider, user=user).exists():
        raise SignInRefused(
            f"your account is linked to another identity at {provider.name}; ask an administrator",
            check="linked_elsewhere",
        )
    return Outcome(link_user=user)


def audit_refusal(*, provider: IdentityProvider, email: str, exc: SignInRefused) -> None:
    audit_record(
        actor=None, action="auth.oidc_refused", obj=provider,
        changes={"provider": provider.slug, "email": email[:254], "check": exc.check, "reason": exc.message},
    )


# --- The pending link, between the callback and the person's proof ---------------------------


@dataclass(frozen=True)
class PendingLink:
    provider: IdentityProvider
    user: User
    subject: str
    email: str
    amr: list[str]


def pending_store(request: HttpRequest, *, provider: IdentityProvider, user: User, subject: str,
                  email: str, amr: list[str]) -> None:
    request.session[PENDING_KEY] = {
        "idp": provider.pk, "user": user.pk, "sub": subject, "email": email, "amr": amr, "at": time.time(),
    }


def pending_of(request: HttpRequest) -> PendingLink | None:
    """The link waiting for proof in this browser, if it is recent and still possible."""
    data = request.session.get(PENDING_KEY)
    if not isinstance(data, dict) or time.time() - float(data.get("at", 0)) > PENDING_SECONDS:
        pending_clear(request)
        return None
    provider = IdentityProvider.objects.filter(
        pk=data.get("idp"), enabled=True, kind=IdentityProvider.Kind.PRIMARY
    ).first()
    user = User.objects.filter(pk=data.get("user"), is_active=True).first()
    if provider is None or user is None:
        pending_clear(request)
        return None
    return PendingLink(provider=provider, user=user, subject=str(data["sub"]), email=str(data["email"]),
                       amr=[str(a) for a in data.get("amr") or []])


def pending_clear(request: HttpRequest) -> None:
    request.session.pop(PENDING_KEY, None)


def normalized_domains(values: list[str] | str) -> list[str]:
    """Domains as an admin types them (spaces, commas or lines; ``@`` optional), lower case."""
    items = values.replace(",", " ").split() if isinstance(values, str) else values
    return sorted({v.strip().lower().lstrip("@").rstrip(".") for v in items if v.strip()})


def normalized_emails(values: list[str] | str) -> list[str]:
    items = values.replace(",", " ").split() if isinstance(values, str) else values
    return sorted({normalize_email(v) for v in items if v.strip()})
