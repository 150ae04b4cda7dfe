"""Authenticators. Both kinds are django-otp devices, so they share its device model and
throttling; the TOTP key is encrypted at rest."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP

from console.core.fields import EncryptedTextField


class Method(models.TextChoices):
    SECURITY_KEY = "security_key", "Security key"
    BIOMETRICS = "biometrics", "Biometrics"
    TOTP = "totp", "Authenticator app"
    BACKUP_CODE = "backup_code", "Backup code"


def _new_key() -> str:
    return secrets.token_hex(20)


class TotpAuthenticator(TimestampMixin, ThrottlingMixin, Device):
    """An authenticator app (RFC 6238: SHA-1, 30 s, 6 digits). One per person."""

    key = EncryptedTextField(default=_new_key)
    last_t = models.BigIntegerField(default=-1, help_text="The last time step used: a code works once.")
    drift = models.SmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user"], name="mfa_one_totp_per_user")]

    method = Method.TOTP

    def get_throttle_factor(self) -> int:
        return settings.OTP_TOTP_THROTTLE_FACTOR

    def verify_is_allowed(self) -> tuple[bool, dict | None]:
        """A mistyped code is forgiven: the back-off (django-otp's, ``OTP_TOTP_THROTTLE_FACTOR``
        seconds doubling with each wrong code) starts only after ``MFA_WRONG_CODES_BEFORE_PAUSE``
        wrong codes in a row. The refusal's ``locked_until`` says until when."""
        if self.throttling_failure_count < settings.MFA_WRONG_CODES_BEFORE_PAUSE:
            return super(ThrottlingMixin, self).verify_is_allowed()
        return super().verify_is_allowed()

    @property
    def bin_key(self) -> bytes:
        return bytes.fromhex(self.key)

    def verify_token(self, token: str) -> bool:
        """True once per code; wrong codes back off exponentially (django-otp throttling)."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        token = (token or "").strip().replace(" ", "")
        verified = False
        if token.isdigit() and len(token) == 6:
            totp = TOTP(self.bin_key, step=30, t0=0, digits=6, drift=self.drift)
            totp.time = timezone.now().timestamp()
            verified = totp.verify(int(token), tolerance=1, min_t=self.last_t + 1)
            if verified:
                self.last_t = totp.t()
                self.drift = totp.drift
                self.throttle_reset(commit=False)
                self.set_last_used_timestamp(commit=False)
                self.save()
        if not verified:
            self.throttle_increment(commit=True)
        return verified


# A few authenticator models people will recognise, by AAGUID; others show the AAGUID itself.
KNOWN_MODELS = {
    "cb69481e-8ff7-4039-93ec-0a2729a154a8": "YubiKey 5 series",
    "08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
    "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
    "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
    "adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
}


class WebAuthnAuthenticator(TimestampMixin, Device):
    """A security key (cross-platform) or a biometric platform authenticator (WebAuthn)."""

    kind = models.CharField(max_length=16, choices=[(Method.SECURITY_KEY, "Security key"),
                                                    (Method.BIOMETRICS, "Biometrics")])
    credential_id = models.BinaryField(unique=True)
    credential_data = models.BinaryField(help_text="AttestedCredentialData: id and public key")
    aaguid = models.CharField(max_length=36, blank=True)
    sign_count = models.BigIntegerField(default=0)
    user_verified = models.BooleanField(default=False)
    suspected_clone_at = models.DateTimeField(null=True, blank=True)

    @property
    def method(self) -> str:
        return self.kind

    @property
    def model(self) -> str:
        if not self.aaguid or self.aaguid == "00000000-0000-0000-0000-000000000000":
            return "model not disclosed"
        return KNOWN_MODELS.get(self.aaguid, self.aaguid)

    def verify_token(self, token: str) -> bool:  # WebAuthn does not use typed codes
        return False


class BackupCode(models.Model):
    """One-time backup codes, stored as hashes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backup_codes")
    code_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "used_at"], name="mfa_backup_user_idx")]

    def __str__(self) -> str:
        return f"backup code of {self.user_id} ({'used' if self.used_at else 'unused'})"


class Verification(models.Model):
    """A successful MFA verification: what Access's "MFA method used" selector reads. It belongs
    to the console session that performed it (``session_hash``, see ``mfa.binding``): Access
    counts it only for decisions about that session."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mfa_verifications")
    method = models.CharField(max_length=16, choices=Method.choices)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    authenticator = models.CharField(max_length=120, blank=True)
    session_hash = models.CharField(
        max_length=64, blank=True,
        help_text="Keyed hash of the verifying console session's binding secret; empty: no session (counts nowhere).",
    )

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["user", "method", "at"], name="mfa_verification_idx"),
            models.Index(fields=["user", "session_hash", "at"], name="mfa_verification_session_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} verified with {self.method} at {self.at:%Y-%m-%d %H:%M}"


class Level(models.TextChoices):
    """How an application or a policy relates to the level above it."""

    RESPECT = "respect", "Respect the level above"
    CUSTOM = "custom", "Custom MFA settings"
    DISABLED = "disabled", "Disable MFA"


PHISHING_RESISTANT = (Method.SECURITY_KEY, Method.BIOMETRICS)


class OrganizationSettings(models.Model):
    """The organization's MFA settings (one row)."""

    required_for_all = models.BooleanField(
        default=False, help_text="Apply these settings to every application unless it says otherwise.",
    )
    allowed_methods = models.JSONField(default=list, help_text="Empty: every method.")
    reverify_minutes = models.PositiveIntegerField(
        default=1440, help_text="How long a verification lasts; 0 asks again at every sign-in.",
    )
    phishing_resistant_only = models.BooleanField(default=False)
    allowed_aaguids = models.JSONField(default=list, help_text="Authenticator models allowed to enroll.")
    console_mfa_required = models.BooleanField(
        default=True,
        help_text="Super Admins, Security Admins and HR must pass MFA to use the console (enrolling at first "
                  "sign-in). Only a Super Admin changes it.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "MFA settings"

    def __str__(self) -> str:
        return "MFA settings"

    @classmethod
    def load(cls) -> OrganizationSettings:
        found = cls.objects.order_by("pk").first()
        return found if found is not None else cls.objects.create()
