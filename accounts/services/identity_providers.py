"""Identity providers (sign-in and identity verification) and the links between a
provider's subject and an account. Changing whom a sign-in provider trusts is a Super Admin's
action, and every Super Admin is told."""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts import idp_trust, oidc, provider_urls
from accounts.models import IdentityProvider, IdentityProviderLink, User, default_barred_roles
from accounts.onboarding.claims import level_rank
from console.audit.services import audit_record, diff, snapshot
from console.core.errors import Conflict, PermissionRefused, ValidationFailed
from console.core.names import require_free_name
from console.core.permissions import require_role
from console.core.roles import ADMINS, Role

log = logging.getLogger(__name__)

IDP_AUDIT_FIELDS = (
    "name", "kind", "issuer", "client_id", "client_secret", "scopes", "email_claim",
    "verified_claim", "assurance_claim", "assurance_levels", "min_assurance_level",
    "enabled", "create_users", "allowed_domains", "allowed_emails", "barred_roles",
)
# What decides whom a primary provider signs in: changing any of these (or switching one on) on a
# primary provider is a Super Admin action, and every Super Admin is told.
IDP_TRUST_FIELDS = (
    "kind", "issuer", "client_id", "email_claim", "create_users", "allowed_domains", "allowed_emails",
    "barred_roles",
)
CLAIM_RE = re.compile(r"^[A-Za-z0-9_:/.\-]{1,128}$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
BARRABLE_ROLES = (Role.SUPER_ADMIN, Role.SECURITY_ADMIN, Role.HR, Role.AUDITOR)


def _clean_bindings(
    *, allowed_domains: list[str] | str, allowed_emails: list[str] | str, barred_roles: list[str]
) -> tuple[list[str], list[str], list[str]]:
    domains = idp_trust.normalized_domains(allowed_domains)
    bad = [d for d in domains if not DOMAIN_RE.match(d)]
    if bad:
        raise ValidationFailed(f"Not an e-mail domain: {', '.join(bad)} (write e.g. corp.example).",
                               field="allowed_domains")
    emails = idp_trust.normalized_emails(allowed_emails)
    for email in emails:
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationFailed(f"{email} is not a valid e-mail address.", field="allowed_emails")
    unknown = [r for r in barred_roles if r not in BARRABLE_ROLES]
    if unknown:
        raise ValidationFailed(f"Cannot bar the role(s) {', '.join(unknown)}.", field="barred_roles")
    roles = [r.value for r in BARRABLE_ROLES if r in barred_roles]
    return domains, emails, roles


def _require_trust_change(actor: User, what: str) -> None:
    if actor.role != Role.SUPER_ADMIN:
        raise PermissionRefused(
            f"Only a Super Admin can {what}: it decides who may sign in to the console."
        )


def _notify_super_admins_later(*, actor: User, idp: IdentityProvider, event: str, changes: dict) -> None:
    transaction.on_commit(lambda: _notify_super_admins(actor_email=actor.email, idp_id=idp.pk,
                                                       event=event, changes=changes))


def _notify_super_admins(*, actor_email: str, idp_id: int, event: str, changes: dict) -> None:
    """After commit: an e-mail to every active Super Admin (the Outbox in the embedded default)
    saying who changed whom a sign-in provider trusts. A mail failure is logged and audited."""

    idp = IdentityProvider.objects.filter(pk=idp_id).first()
    recipients = list(User.objects.filter(role=Role.SUPER_ADMIN, is_active=True)
                      .order_by("email").values_list("email", flat=True))
    if idp is None or not recipients:
        return
    lines = []
    for name, change in changes.items():
        if name == "client_secret":
            continue
        lines.append(f"  {name}: {change.get('old')!r} -> {change.get('new')!r}")
    body = (
        f"{actor_email} {event} the sign-in identity provider {idp.name} ({idp.issuer}).\n\n"
        f"It may sign in people with e-mails in: {', '.join(idp.allowed_domains) or 'no domain'}"
        f"{'; and ' + ', '.join(idp.allowed_emails) if idp.allowed_emails else ''}.\n"
        f"Roles barred from signing in through it: "
        f"{', '.join(idp.barred_role_labels) or 'none'}.\n\n"
        "Changes:\n" + ("\n".join(lines) or "  (none)") + "\n\n"
        f"Review it: {settings.CONSOLE_URL.rstrip('/')}/accounts/identity-providers/{idp.pk}/\n"
        "If you did not expect this change, disable the provider and review the audit trail.\n"
    )
    message = EmailMessage(
        subject=f"Identity provider {idp.name}: sign-in trust changed", body=body,
        from_email=settings.DEFAULT_FROM_EMAIL, to=recipients,
    )
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 - any mail failure is recorded the same way
        log.warning("Identity provider notice for %s failed: %s", idp.slug, exc)
        audit_record(actor=None, action="idp.notice_failed", obj=idp,
                     changes={"to": recipients, "error": exc.__class__.__name__})
        return
    audit_record(actor=None, action="idp.notice_sent", obj=idp, changes={"to": recipients, "event": event})


def _clean_claim_mapping(
    *, kind: str, verified_claim: str, assurance_claim: str, assurance_levels: str, min_assurance_level: str
) -> tuple[str, str, str, str]:
    """The claim mapping of a verification provider: claim names (dotted paths allowed), the
    ordered levels and the minimum, which must be one of them (or a number when they are)."""
    verified_claim, assurance_claim = (verified_claim or "").strip(), (assurance_claim or "").strip()
    levels = " ".join((assurance_levels or "").replace(",", " ").split())
    minimum = (min_assurance_level or "").strip()
    if kind != IdentityProvider.Kind.VERIFICATION:
        return verified_claim or "identity_verified", assurance_claim, levels or "low medium high", minimum
    if not CLAIM_RE.match(verified_claim):
        raise ValidationFailed("Name the claim that says the person was verified (e.g. identity_verified).",
                               field="verified_claim")
    if assurance_claim and not CLAIM_RE.match(assurance_claim):
        raise ValidationFailed(f"{assurance_claim!r} is not a claim name.", field="assurance_claim")
    if assurance_claim:
        if not minimum:
            raise ValidationFailed("Pick the minimum level accepted.", field="min_assurance_level")

        if level_rank(minimum, levels.split()) is None:
            raise ValidationFailed(
                f"{minimum} is not one of the levels ({levels or 'none given'}).", field="min_assurance_level"
            )
    return verified_claim, assurance_claim, levels or "low medium high", minimum


def _refuse_development_provider(idp: IdentityProvider) -> None:
    if idp.development_only and not settings.DEV_VERIFICATION_PROVIDER:
        raise ValidationFailed(
            "This provider says it is for development only (its discovery document); it cannot be used here.",
            field="issuer",
        )


def _unique_slug(name: str, *, idp: IdentityProvider | None) -> str:
    base = slugify(name)[:50] or "provider"
    slug, n = base, 2
    others = IdentityProvider.objects.all() if idp is None else IdentityProvider.objects.exclude(pk=idp.pk)
    while others.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _validate_idp(*, name: str, issuer: str, client_id: str, scopes: str, idp: IdentityProvider | None) -> None:
    if not name.strip():
        raise ValidationFailed("A name is required.", field="name")
    require_free_name(IdentityProvider.objects, name.strip(),
                      f"An identity provider named {name.strip()} already exists.", instance=idp)
    if not client_id.strip():
        raise ValidationFailed("A client id is required.", field="client_id")
    if "openid" not in scopes.split():
        raise ValidationFailed("Scopes must include openid.", field="scopes")
    provider_urls.clean_issuer(issuer)


def _apply_discovery(idp: IdentityProvider) -> None:
    document = oidc.discover(idp.issuer)
    idp.authorization_endpoint = document["authorization_endpoint"]
    idp.token_endpoint = document["token_endpoint"]
    idp.userinfo_endpoint = document.get("userinfo_endpoint", "")
    idp.jwks_uri = document["jwks_uri"]
    idp.development_only = document.get("x_development_only") is True
    idp.discovered_at = timezone.now()
    _refuse_development_provider(idp)


@transaction.atomic
def idp_create(
    *,
    actor: User,
    name: str,
    kind: str,
    issuer: str,
    client_id: str,
    client_secret: str,
    scopes: str = "openid email profile",
    email_claim: str = "email",
    enabled: bool = True,
    create_users: bool = False,
    verified_claim: str = "identity_verified",
    assurance_claim: str = "verification_level",
    assurance_levels: str = "low medium high",
    min_assurance_level: str = "high",
    allowed_domains: list[str] | str = (),
    allowed_emails: list[str] | str = (),
    barred_roles: list[str] | None = None,
) -> IdentityProvider:
    """Discovery is fetched before saving: a provider whose issuer does not answer is refused
    with the reason. A primary (sign-in) provider is a Super Admin's to add, must be bound to at
    least one e-mail domain or person, and every Super Admin is told of it."""
    require_role(actor, ADMINS, "configure identity providers")
    primary = kind == IdentityProvider.Kind.PRIMARY
    if primary:
        _require_trust_change(actor, "add a sign-in (primary) identity provider")
    issuer = issuer.strip().rstrip("/")
    _validate_idp(name=name, issuer=issuer, client_id=client_id, scopes=scopes, idp=None)
    # Trust bindings are about signing in: a verification provider keeps the safe defaults.
    domains, emails, roles = _clean_bindings(
        allowed_domains=(allowed_domains or []) if primary else [],
        allowed_emails=(allowed_emails or []) if primary else [],
        barred_roles=default_barred_roles() if barred_roles is None or not primary else barred_roles,
    )
    if primary and not (domains or emails):
        raise ValidationFailed(
            "Bind the provider to at least one e-mail domain (or person): it may sign in no one else.",
            field="allowed_domains",
        )
    if not client_secret:
        raise ValidationFailed("A client secret is required.", field="client_secret")
    verified_claim, assurance_claim, assurance_levels, min_assurance_level = _clean_claim_mapping(
        kind=kind, verified_claim=verified_claim, assurance_claim=assurance_claim,
        assurance_levels=assurance_levels, min_assurance_level=min_assurance_level,
    )
    idp = IdentityProvider(
        name=name.strip(), kind=kind, issuer=issuer, client_id=client_id.strip(),
        client_secret=client_secret, scopes=" ".join(scopes.split()),
        email_claim=email_claim.strip() or "email", enabled=enabled, create_users=create_users,
        verified_claim=verified_claim, assurance_claim=assurance_claim, assurance_levels=assurance_levels,
        min_assurance_level=min_assurance_level, allowed_domains=domains, allowed_emails=emails,
        barred_roles=roles,
    )
    idp.slug = _unique_slug(idp.name, idp=None)
    _apply_discovery(idp)
    idp.save()
    changes = diff({}, snapshot(idp, IDP_AUDIT_FIELDS), secrets=("client_secret",))
    audit_record(actor=actor, action="idp.created", obj=idp, changes=changes)
    if idp.kind == IdentityProvider.Kind.PRIMARY:
        _notify_super_admins_later(actor=actor, idp=idp, event="added", changes=changes)
    return idp


@transaction.atomic
def idp_update(
    *,
    actor: User,
    idp: IdentityProvider,
    name: str,
    kind: str,
    issuer: str,
    client_id: str,
    client_secret: str = "",
    scopes: str = "openid email profile",
    email_claim: str = "email",
    enabled: bool = True,
    create_users: bool = False,
    verified_claim: str = "identity_verified",
    assurance_claim: str = "verification_level",
    assurance_levels: str = "low medium high",
    min_assurance_level: str = "high",
    allowed_domains: list[str] | str | None = None,
    allowed_emails: list[str] | str | None = None,
    barred_roles: list[str] | None = None,
) -> IdentityProvider:
    """An empty ``client_secret`` keeps the stored one (it is never shown back); trust bindings
    left as ``None`` keep theirs. On a primary provider (before or after the change), changing
    what it is trusted for (``IDP_TRUST_FIELDS``) or switching it on is a Super Admin action and
    every Super Admin is told; anyone who configures providers may rename it, change its scopes,
    rotate its secret or switch it off."""
    require_role(actor, ADMINS, "configure identity providers")
    idp = IdentityProvider.objects.select_for_update().get(pk=idp.pk)
    issuer = issuer.strip().rstrip("/")
    _validate_idp(name=name, issuer=issuer, client_id=client_id, scopes=scopes, idp=idp)
    before = snapshot(idp, IDP_AUDIT_FIELDS)
    was_primary = idp.kind == IdentityProvider.Kind.PRIMARY
    if kind != IdentityProvider.Kind.PRIMARY:
        # Trust bindings are about signing in: a verification provider keeps the ones it has.
        allowed_domains = allowed_emails = barred_roles = None
    (idp.allowed_domains, idp.allowed_emails, idp.barred_roles) = _clean_bindings(
        allowed_domains=idp.allowed_domains if allowed_domains is None else allowed_domains,
        allowed_emails=idp.allowed_emails if allowed_emails is None else allowed_emails,
        barred_roles=idp.barred_roles if barred_roles is None else barred_roles,
    )
    idp.name, idp.kind, idp.client_id = name.strip(), kind, client_id.strip()
    idp.scopes, idp.email_claim = " ".join(scopes.split()), email_claim.strip() or "email"
    idp.enabled, idp.create_users = enabled, create_users
    (idp.verified_claim, idp.assurance_claim, idp.assurance_levels,
     idp.min_assurance_level) = _clean_claim_mapping(
        kind=kind, verified_claim=verified_claim, assurance_claim=assurance_claim,
        assurance_levels=assurance_levels, min_assurance_level=min_assurance_level,
    )
    if client_secret:
        idp.client_secret = client_secret
    rediscover = issuer != idp.issuer or not idp.discovered_at
    idp.issuer = issuer
    is_primary = idp.kind == IdentityProvider.Kind.PRIMARY
    # Decided before discovery, so that a refused change never makes the console call the issuer.
    planned = diff(before, snapshot(idp, IDP_AUDIT_FIELDS))
    trust_changed = any(f in planned for f in IDP_TRUST_FIELDS) or ("enabled" in planned and idp.enabled)
    if (was_primary or is_primary) and trust_changed:
        _require_trust_change(actor, "change whom a sign-in (primary) identity provider is trusted for")
    if rediscover:
        _apply_discovery(idp)
    after = snapshot(idp, IDP_AUDIT_FIELDS)
    changes = diff(before, after, secrets=("client_secret",))
    if client_secret and "client_secret" not in changes:
        changes["client_secret"] = {"old": "[secret]", "new": "[secret replaced]"}
    if not changes:
        return idp
    if is_primary and not idp.has_bindings:
        raise ValidationFailed(
            "Bind the provider to at least one e-mail domain (or person): it may sign in no one else.",
            field="allowed_domains",
        )
    idp.save()
    audit_record(actor=actor, action="idp.updated", obj=idp, changes=changes)
    if (was_primary or is_primary) and trust_changed:
        event = "made primary" if is_primary and not was_primary else "changed the trust of"
        _notify_super_admins_later(actor=actor, idp=idp, event=event, changes=changes)
    return idp


@transaction.atomic
def idp_link_create(
    *, actor: User | None, provider: IdentityProvider, user: User, subject: str, proof: str
) -> IdentityProviderLink:
    """Link ``subject`` at ``provider`` to ``user``, after the person proved it is them (``actor``
    is that person) or because the provider itself created the account (``actor`` None)."""
    if actor is not None and actor.pk != user.pk:
        raise PermissionRefused("Only the person themselves can link an identity provider to their account.")
    if proof not in IdentityProviderLink.Proof.values:
        raise ValidationFailed(f"Unknown proof {proof!r}.")
    user = User.objects.select_for_update().get(pk=user.pk)
    try:
        idp_trust.check_account(provider, user)
    except idp_trust.SignInRefused as exc:
        raise PermissionRefused(exc.message[:1].upper() + exc.message[1:] + ".")
    if IdentityProviderLink.objects.filter(provider=provider, subject=subject).exists():
        raise Conflict(f"This {provider.name} identity is already linked to an account.")
    if IdentityProviderLink.objects.filter(provider=provider, user=user).exists():
        raise Conflict(f"Your account is already linked to another {provider.name} identity.")
    link = IdentityProviderLink.objects.create(provider=provider, user=user, subject=subject, proof=proof)
    audit_record(
        actor=actor, action="idp.link_created", obj=user,
        changes={"provider": provider.slug, "subject": subject, "proof": proof},
    )
    return link


@transaction.atomic
def idp_link_delete(*, actor: User, link: IdentityProviderLink) -> None:
    """Forget a link (the person links again, with proof, at their next sign-in through it)."""
    _require_trust_change(actor, "remove the link between an identity provider and an account")
    audit_record(
        actor=actor, action="idp.link_deleted", obj=link.user,
        changes={"provider": link.provider.slug, "subject": link.subject},
    )
    link.delete()


@transaction.atomic
def idp_delete(*, actor: User, idp: IdentityProvider) -> None:
    require_role(actor, ADMINS, "delete identity providers")
    audit_record(
        actor=actor, action="idp.deleted", obj=idp,
        changes={"name": {"old": idp.name, "new": None}, "issuer": {"old": idp.issuer, "new": None}},
    )
    idp.delete()


@transaction.atomic
def idp_refresh_discovery(*, actor: User, idp: IdentityProvider) -> IdentityProvider:
    require_role(actor, ADMINS, "configure identity providers")
    idp = IdentityProvider.objects.select_for_update().get(pk=idp.pk)
    before = snapshot(idp, ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"))
    _apply_discovery(idp)
    idp.save(update_fields=[
        "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
        "development_only", "discovered_at", "updated_at",
    ])
    changes = diff(before, snapshot(idp, before.keys()))
    audit_record(actor=actor, action="idp.discovery_refreshed", obj=idp, changes=changes)
    return idp
