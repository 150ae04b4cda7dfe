"""Onboarding cases, identity verification records and the development outbox.

No biometric data is ever stored: a verification record holds the provider, the transaction id,
the claims we mapped (verified, e-mail, assurance level) and timestamps, nothing else."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from console.core.fields import EncryptedTextField


class OnboardingCase(models.Model):
    """A new hire, from HR's invitation to an activated account."""

    class Status(models.TextChoices):
        INVITED = "invited", "Invited"
        PENDING = "verification_pending", "Verification pending"
        VERIFIED = "verified", "Verified"
        ACTIVATED = "activated", "Activated"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    OPEN = (Status.INVITED, Status.PENDING, Status.VERIFIED)
    RESENDABLE = (Status.INVITED, Status.PENDING, Status.FAILED, Status.EXPIRED)

    legal_name = models.CharField(max_length=200)
    personal_email = models.EmailField(max_length=254)
    work_email = models.EmailField(max_length=254)
    start_date = models.DateField()
    date_of_birth = models.DateField(
        null=True, blank=True,
        help_text="Optional. Account recovery compares it with the verified birthdate when the provider gives one; "
                  "filled from the verified birthdate at onboarding when HR left it empty.",
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    groups = models.ManyToManyField("accounts.Group", blank=True, related_name="+")
    provider = models.ForeignKey(
        "accounts.IdentityProvider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The identity verification provider the new hire is sent to.",
    )
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.INVITED, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="onboarding_cases",
        help_text="The account, created once the new hire's identity is verified.",
    )
    invitation_token_hash = models.CharField(max_length=64, unique=True)
    invitation_sent_at = models.DateTimeField(default=timezone.now)
    invitation_expires_at = models.DateTimeField()
    invitation_used_at = models.DateTimeField(null=True, blank=True)
    invitations_sent = models.PositiveIntegerField(default=1)
    verified_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    # The last failed check (which claim or protocol step), for HR; never the token.
    failure_check = models.CharField(max_length=40, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "invitation_expires_at"], name="onb_case_status_exp_idx")]

    def __str__(self) -> str:
        return f"{self.legal_name} <{self.work_email}>"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def can_resend(self) -> bool:
        return self.status in self.RESENDABLE

    @property
    def can_cancel(self) -> bool:
        return self.status in (*self.OPEN, self.Status.FAILED, self.Status.EXPIRED)


class VerificationRecord(models.Model):
    """One answer from an identity verification provider, accepted or refused."""

    class Purpose(models.TextChoices):
        ONBOARDING = "onboarding", "Onboarding"
        STEP_UP = "step_up", "Step-up"
        MFA_RESET = "mfa_reset", "Replacing lost authenticators"
        RECOVERY = "recovery", "Account recovery"

    class Outcome(models.TextChoices):
        VERIFIED = "verified", "Verified"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="identity_verifications"
    )
    case = models.ForeignKey(
        OnboardingCase, null=True, blank=True, on_delete=models.SET_NULL, related_name="verifications"
    )
    provider = models.ForeignKey(
        "accounts.IdentityProvider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider_name = models.CharField(max_length=100)
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    failed_check = models.CharField(max_length=40, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    email = models.CharField(max_length=254, blank=True, help_text="The e-mail the verification was for.")
    subject = models.CharField(max_length=255, blank=True, help_text="The provider's subject (sub) claim.")
    transaction_id = models.CharField(max_length=255, blank=True)
    assurance_level = models.CharField(max_length=64, blank=True)
    claims = models.JSONField(default=dict, blank=True, help_text="Only the claims we mapped.")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    session_hash = models.CharField(
        max_length=64, blank=True,
        help_text="Keyed hash of the console session that verified (mfa.binding): Access step-up counts it only there.",
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "outcome", "at"], name="onb_verification_user_idx")]

    def __str__(self) -> str:
        who = self.email or self.user_id
        return f"{self.get_purpose_display()} {self.outcome} for {who} at {self.at:%Y-%m-%d %H:%M}"


class OutboxMessage(models.Model):
    """An e-mail as the embedded default "sends" it: kept here and shown on the Outbox page."""

    to = models.CharField(max_length=1000)
    from_email = models.CharField(max_length=254)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"


class RecoveryRequest(models.Model):
    """One account recovery that passed identity verification (and the name / birthdate check).

    Privileged people (Super Admin, Security Admin, HR) wait for a second admin's approval before
    they can complete it. Once the person is signed in, their old authenticators are suspended:
    kept here, encrypted and unusable, until the owner (after ``RECOVERY_CONFIRM_WAIT_HOURS``, from
    a session verified with a new authenticator) or an admin confirms their removal, or restored
    when the owner reports the recovery ("This wasn't me"), which also blocks recovery."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        RECOVERED = "recovered", "Enrolling a new authenticator"
        COMPLETED = "completed", "Completed"
        REPORTED = "reported", "Reported by the owner"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recoveries")
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    role = models.CharField(max_length=32, help_text="The person's role when the recovery started.")
    needs_approval = models.BooleanField(default=False)
    verification = models.ForeignKey(
        VerificationRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.ForeignKey(
        "accounts.IdentityProvider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The verified person (provider subject): completing an approved recovery needs the same one.
    subject = models.CharField(max_length=255, blank=True)
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    recovered_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The old authenticators and backup codes, as the mfa app serialized them (encrypted: a TOTP
    # secret is among them). Emptied when their removal is confirmed or when they are restored.
    parked = EncryptedTextField(blank=True)
    parked_names = models.JSONField(default=list, blank=True, help_text="What was suspended, for people to read.")
    old_removed_at = models.DateTimeField(null=True, blank=True)
    old_removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reported_at = models.DateTimeField(null=True, blank=True)
    freeze_lifted_at = models.DateTimeField(null=True, blank=True)
    freeze_lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    freeze_lift_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["user", "status"], name="onb_recovery_user_idx")]

    def __str__(self) -> str:
        return f"Recovery of {self.user} ({self.get_status_display().lower()})"

    @property
    def old_pending_removal(self) -> bool:
        return bool(self.parked) and self.old_removed_at is None

    @property
    def frozen(self) -> bool:
        return self.reported_at is not None and self.freeze_lifted_at is None
