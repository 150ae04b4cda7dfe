from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from console.core.fields import EncryptedTextField
from console.core.names import case_insensitive_unique
from console.core.roles import Role


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def default_barred_roles() -> list[str]:
    """Both admin roles sign in with a password (and MFA), never through a provider, unless a
    Super Admin allows it for one provider."""
    return [Role.SUPER_ADMIN.value, Role.SECURITY_ADMIN.value]


def lockout_username(request: object, credentials: dict | None) -> str:
    """The key django-axes counts failures under."""
    return normalize_email((credentials or {}).get("username", ""))


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        # Sign-in is case-insensitive, like e-mail itself.
        return self.get(email__iexact=normalize_email(username or ""))

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=normalize_email(email), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields["role"] = Role.SUPER_ADMIN
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser):
    """A person, keyed by e-mail. Their one role decides what they may see and do."""

    class Source(models.TextChoices):
        LOCAL = "local", "Created in the console"
        IMPORT = "import", "CSV import"
        OIDC = "oidc", "Identity provider"
        ONBOARDING = "onboarding", "Onboarding (identity verified)"
        DEMO = "demo", "Demo data"

    email = models.EmailField(max_length=254, unique=True)
    full_name = models.CharField(max_length=200)
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.EMPLOYEE)
    title = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    is_active = models.BooleanField(default=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.LOCAL)
    date_joined = models.DateTimeField(default=timezone.now)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name", "email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]
        indexes = [models.Index(fields=["role", "is_active"], name="user_role_active_idx")]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    @property
    def role_label(self) -> str:
        return Role(self.role).label

    @property
    def is_console_user(self) -> bool:
        return self.role != Role.EMPLOYEE

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return (self.full_name or self.email).split(" ")[0]


class Group(models.Model):
    """A directory group (Engineering, Contractors...). Policies select on groups."""

    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(User, through="GroupMembership", related_name="directory_groups")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [case_insensitive_unique("group_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class GroupMembership(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="group_membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user.email} in {self.group.name}"


class IdentityProvider(models.Model):
    """An OpenID Connect provider: the workforce IdP people sign in with, or an identity
    verification vendor. Endpoints come from discovery; the client secret is encrypted."""

    class Kind(models.TextChoices):
        PRIMARY = "primary", "Primary (workforce sign-in)"
        VERIFICATION = "verification", "Identity verification"

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PRIMARY)
    issuer = models.URLField(max_length=500)
    client_id = models.CharField(max_length=255)
    client_secret = EncryptedTextField(blank=True)
    scopes = models.CharField(max_length=255, default="openid email profile")
    email_claim = models.CharField(max_length=64, default="email")
    # Claim mapping of identity verification providers (dotted paths reach nested claims).
    verified_claim = models.CharField(
        max_length=128, default="identity_verified",
        help_text="The claim that is true when the provider verified the person.",
    )
    assurance_claim = models.CharField(
        max_length=128, blank=True, default="verification_level",
        help_text="The claim holding the assurance level; empty: no level is checked.",
    )
    assurance_levels = models.CharField(
        max_length=255, default="low medium high",
        help_text="The levels the provider uses, lowest first (numbers compare as numbers).",
    )
    min_assurance_level = models.CharField(max_length=64, blank=True, default="high")
    development_only = models.BooleanField(
        default=False,
        help_text="The provider says it is for development only (its discovery document); refused in production.",
    )
    enabled = models.BooleanField(default=True)
    create_users = models.BooleanField(
        default=False,
        help_text="Create an Employee account on first sign-in for an unknown e-mail.",
    )
    # Trust bindings (primary providers): whom this provider may sign in. Nobody when both are empty.
    allowed_domains = models.JSONField(
        default=list, blank=True,
        help_text="E-mail domains this provider is trusted for (exact match, lower case).",
    )
    allowed_emails = models.JSONField(
        default=list, blank=True,
        help_text="Individual e-mail addresses this provider is trusted for, outside the domains.",
    )
    barred_roles = models.JSONField(
        default=default_barred_roles, blank=True,
        help_text="Roles whose accounts may not sign in through this provider.",
    )
    authorization_endpoint = models.URLField(max_length=500, blank=True)
    token_endpoint = models.URLField(max_length=500, blank=True)
    userinfo_endpoint = models.URLField(max_length=500, blank=True)
    jwks_uri = models.URLField(max_length=500, blank=True)
    discovered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [case_insensitive_unique("identity_provider_name_ci_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.client_secret)

    @property
    def has_bindings(self) -> bool:
        return bool(self.allowed_domains or self.allowed_emails)

    def trusts_email(self, email: str) -> bool:
        """Whether an admin bound this provider to the e-mail's domain or to the address itself."""
        email = normalize_email(email)
        domain = email.rpartition("@")[2]
        return bool(domain) and (email in self.allowed_emails or domain in self.allowed_domains)

    @property
    def barred_role_labels(self) -> list[str]:
        return [Role(r).label for r in self.barred_roles if r in Role.values]


class IdentityProviderLink(models.Model):
    """Which account a provider's subject (``sub``) is. Once linked, the subject identifies the
    person at every sign-in through that provider; the e-mail claim alone never does."""

    class Proof(models.TextChoices):
        CREATED = "created", "Account created by this provider"
        SESSION = "session", "Signed in to the console"
        MFA = "mfa", "Verified with an authenticator"

    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="links")
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="idp_links")
    proof = models.CharField(max_length=16, choices=Proof.choices)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["provider__name", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="idp_link_subject_unique"),
            models.UniqueConstraint(fields=["provider", "user"], name="idp_link_user_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.provider.name}: {self.subject} is {self.user.email}"
