from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from console.core.fields import EncryptedTextField
from console.core.names import case_insensitive_unique

HOUR = 3600
DAY = 24 * HOUR
# Session lengths offered in the console, from "expires immediately" to one month.
SESSION_CHOICES = [
    (0, "No duration, expires immediately"),
    (15 * 60, "15 minutes"),
    (30 * 60, "30 minutes"),
    (HOUR, "1 hour"),
    (6 * HOUR, "6 hours"),
    (12 * HOUR, "12 hours"),
    (DAY, "24 hours"),
    (7 * DAY, "1 week"),
    (14 * DAY, "2 weeks"),
    (30 * DAY, "1 month"),
]
SESSION_SECONDS = {value for value, _ in SESSION_CHOICES}


def _aud() -> str:
    return secrets.token_hex(32)


class Application(models.Model):
    """Something people open through Access. The ``aud`` tag is the audience of the tokens
    issued for it, the way a proxy recognises them."""

    class Type(models.TextChoices):
        SELF_HOSTED = "self_hosted", "Self-hosted"
        SAAS = "saas", "SaaS"
        LLM = "llm", "Internal LLM endpoint"
        MCP = "mcp", "MCP server"
        BOOKMARK = "bookmark", "Bookmark"

    name = models.CharField(max_length=120, unique=True)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.SELF_HOSTED)
    domain = models.CharField(max_length=253, blank=True, help_text="Hostname, e.g. wiki.corp.example")
    path = models.CharField(max_length=255, blank=True, help_text="Optional path prefix, e.g. /admin")
    url = models.URLField(max_length=500, blank=True, help_text="Where the launcher sends people")
    description = models.CharField(max_length=300, blank=True)
    logo = models.BinaryField(null=True, blank=True, editable=True)
    logo_type = models.CharField(max_length=32, blank=True)
    launcher_visible = models.BooleanField(default=True)
    session_seconds = models.PositiveIntegerField(default=DAY)
    aud = models.CharField(max_length=64, unique=True, default=_aud)
    mfa_mode = models.CharField(max_length=16, default="respect",
                                choices=[("respect", "Respect the organization's settings"),
                                         ("custom", "Custom MFA settings"), ("disabled", "Disable MFA")])
    mfa_methods = models.JSONField(default=list, blank=True)
    mfa_reverify_minutes = models.PositiveIntegerField(default=1440)
    mfa_phishing_resistant = models.BooleanField(default=False)
    policies = models.ManyToManyField("Policy", through="ApplicationPolicy", related_name="applications")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["domain"], name="access_app_domain_idx")]
        constraints = [case_insensitive_unique("access_app_name_ci_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def launch_url(self) -> str:
        if self.url:
            return self.url
        if self.domain:
            return f"https://{self.domain}{self.path or '/'}"
        return ""

    @property
    def session_label(self) -> str:
        return dict(SESSION_CHOICES).get(self.session_seconds, f"{self.session_seconds} s")

    @property
    def initials(self) -> str:
        words = [w for w in self.name.replace("-", " ").split() if w]
        return "".join(w[0] for w in words[:2]).upper() or "?"


class Policy(models.Model):
    """A reusable Access policy. ``rules`` holds ``{"include": [...], "require": [...],
    "exclude": [...]}``, each a list of selector configurations (see ``engine.SELECTORS``)."""

    class Action(models.TextChoices):
        ALLOW = "allow", "Allow"
        BLOCK = "block", "Block"
        BYPASS = "bypass", "Bypass"
        SERVICE_AUTH = "service_auth", "Service Auth"

    name = models.CharField(max_length=120, unique=True)
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.ALLOW)
    description = models.CharField(max_length=300, blank=True)
    rules = models.JSONField(default=dict)
    session_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: same as the application's session duration."
    )
    mfa_mode = models.CharField(max_length=16, default="respect",
                                choices=[("respect", "Respect the application's settings"),
                                         ("custom", "Custom MFA settings"), ("disabled", "Disable MFA")])
    mfa_methods = models.JSONField(default=list, blank=True)
    mfa_reverify_minutes = models.PositiveIntegerField(default=1440)
    mfa_phishing_resistant = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"
        constraints = [case_insensitive_unique("access_policy_name_ci_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def rule_count(self) -> int:
        return sum(len(self.rules.get(k) or []) for k in ("include", "require", "exclude"))


class ApplicationPolicy(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="attachments")
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="attachments")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["application", "position"]
        constraints = [
            models.UniqueConstraint(fields=["application", "policy"], name="access_app_policy_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.application} #{self.position}: {self.policy}"


class ServiceToken(models.Model):
    """A machine credential for Service Auth policies: ``client_id`` plus a secret shown once."""

    name = models.CharField(max_length=120, unique=True)
    client_id = models.CharField(max_length=80, unique=True)
    secret_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [case_insensitive_unique("access_service_token_name_ci_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class ApiToken(models.Model):
    """A bearer token for the console's API, limited to its scopes: proxies asking for Access
    decisions, SSF receivers managing their streams, secure web gateways asking for Gateway
    decisions, SIEM and SOAR tools reading or resetting risk scores. Log shippers and EDR tools
    send telemetry with a token of their own (``risk.models.TelemetrySource``). Only a hash is
    stored; the token is shown once."""

    class Scope(models.TextChoices):
        ACCESS_DECIDE = "access:decide", "Access decisions (proxies)"
        SSF_STREAM = "ssf:stream", "Shared Signals streams (SSF receivers)"
        GATEWAY_EVALUATE = "gateway:evaluate", "Gateway HTTP policy decisions (secure web gateways)"
        RISK_READ = "risk:read", "Read risk scores, events and behaviours (SIEM, SOAR)"
        RISK_WRITE = "risk:write", "Reset risk scores (SOAR)"

    name = models.CharField(max_length=120, unique=True)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=128)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    created_by_email = models.CharField(max_length=254, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [case_insensitive_unique("access_api_token_name_ci_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class Device(models.Model):
    """A registered device and its posture, as the EDR or device management reports it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices")
    device_id = models.CharField(max_length=120, unique=True, help_text="The device's id in your MDM/EDR")
    name = models.CharField(max_length=120)
    os = models.CharField(max_length=40, help_text="e.g. macOS, Windows, Linux, iOS, Android")
    os_version = models.CharField(max_length=40, blank=True)
    managed = models.BooleanField(default=False)
    disk_encrypted = models.BooleanField(default=False)
    edr_score = models.PositiveSmallIntegerField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user__email", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.device_id})"


class AccessSession(models.Model):
    """An application session, created or extended by each allow. Its id is the ``jti`` of the
    application token; revoking it makes the next decision refuse that token."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="access_sessions"
    )
    service_token = models.ForeignKey(ServiceToken, null=True, blank=True, on_delete=models.CASCADE)
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="sessions")
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.SET_NULL)
    policy_name = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True)
    device_id = models.CharField(max_length=120, blank=True)
    identity_provider = models.CharField(max_length=60, blank=True)
    auth_methods = models.JSONField(default=list, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)
    # Set when a re-evaluation found the session now needs a step-up (MFA, identity
    # verification); the next decision challenges, and an allowed decision clears it.
    step_up_required_at = models.DateTimeField(null=True, blank=True)
    step_up_reason = models.CharField(max_length=200, blank=True)
    # The console session (browser) that opened it, as mfa.binding's keyed hash; empty for a
    # session opened by the decision API without one. Only verifications (MFA, identity) of that
    # console session count in decisions about this session.
    console_session_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        indexes = [
            models.Index(fields=["user", "application", "revoked_at"], name="access_session_lookup_idx"),
            models.Index(fields=["application", "revoked_at"], name="access_session_app_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.service_token} → {self.application}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class AccessLogEntry(models.Model):
    """One access decision, in the spirit of the ``access_requests`` log."""

    class Source(models.TextChoices):
        API = "api", "Decision API"
        LAUNCHER = "launcher", "App Launcher"
        OIDC = "oidc", "OpenID Connect sign-in"
        PROXY = "proxy", "Reverse proxy (forward-auth)"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    application_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    application_name = models.CharField(max_length=120, blank=True)
    outcome = models.CharField(max_length=16, db_index=True)
    policy_id = models.BigIntegerField(null=True, blank=True)
    policy_name = models.CharField(max_length=120, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    challenge = models.JSONField(default=list, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True)
    method = models.CharField(max_length=60, blank=True, help_text="identity provider or service token")
    mfa_method = models.CharField(max_length=16, blank=True,
                                  help_text="The MFA method that satisfied the policy (after a step-up)")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    session_id = models.UUIDField(null=True, blank=True)
    # Given when the decision is answered, so a spooled entry stored twice (a replay after a crash
    # between the insert and the spool's truncation) is one row.
    uid = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.email} {self.application_name} {self.outcome}"


class SigningKey(models.Model):
    """RSA keys that sign application tokens. The newest active key signs; every key younger
    than the longest session stays in the JWKS so tokens it signed still verify."""

    kid = models.CharField(max_length=64, unique=True)
    private_pem = EncryptedTextField()
    public_jwk = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.kid

    @property
    def published_until(self):
        """When the key leaves the JWKS (and tokens it signed stop verifying); None while current."""
        return None if self.retired_at is None else self.retired_at + timedelta(days=31)

    @property
    def published(self) -> bool:
        until = self.published_until
        return until is None or until > timezone.now()


class AppSignInCode(models.Model):
    """A one-time code that carries a person from the console's sign-in back to an application's
    own host (``/.access/callback`` there), where it is exchanged for the application cookie. Only
    its hash is stored; it works once, for ``ACCESS_PROXY_CODE_SECONDS``, on the application's
    host it was issued for. The token it delivers is encrypted and erased when the code is used."""

    code_hash = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="sign_in_codes")
    session = models.ForeignKey(AccessSession, on_delete=models.CASCADE, related_name="sign_in_codes")
    host = models.CharField(max_length=260)
    token = EncryptedTextField(blank=True)
    token_expires_at = models.DateTimeField()
    return_to = models.CharField(max_length=2000)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="access_signin_code_exp_idx")]

    def __str__(self) -> str:
        return f"sign-in code for {self.application} ({self.host})"


class ProxySighting(models.Model):
    """When the console last answered a forward-auth request for an application from a trusted
    proxy (the "Connect your proxy" check). Written at most once a minute per process."""

    application = models.OneToOneField(Application, on_delete=models.CASCADE, related_name="proxy_sighting")
    last_seen_at = models.DateTimeField()
    proxy_address = models.GenericIPAddressField(null=True, blank=True)
    host = models.CharField(max_length=260, blank=True)

    def __str__(self) -> str:
        return f"{self.application} seen {self.last_seen_at:%Y-%m-%d %H:%M:%S}"
