"""The application library (SaaS and AI applications, their hostnames, approval status and the
evidence behind their confidence scores) and the Gateway HTTP policies that act on them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from console.core.names import case_insensitive_unique


class Category(models.TextChoices):
    """The application types of the reference's App Library (34, including Do Not Inspect)."""

    ARTIFICIAL_INTELLIGENCE = "artificial_intelligence", "Artificial Intelligence"
    BUSINESS = "business", "Business"
    COLLABORATION = "collaboration", "Collaboration & Online Meetings"
    DATING = "dating", "Dating"
    DEVELOPMENT = "development", "Development"
    EDUCATION = "education", "Education"
    EMAIL = "email", "Email"
    ENTERTAINMENT = "entertainment", "Entertainment & Events"
    ENCRYPTED_DNS = "encrypted_dns", "Encrypted DNS"
    FILE_SHARING = "file_sharing", "File Sharing"
    FINANCE = "finance", "Finance & Accounting"
    FOOD_DRINK = "food_drink", "Food & Drink"
    GAMING = "gaming", "Gaming"
    HEALTH_FITNESS = "health_fitness", "Health & Fitness"
    HUMAN_RESOURCES = "human_resources", "Human Resources"
    INSTANT_MESSAGING = "instant_messaging", "Instant Messaging"
    IT_MANAGEMENT = "it_management", "IT Management"
    LEGAL = "legal", "Legal"
    LIFESTYLE = "lifestyle", "Lifestyle"
    MUSIC_AUDIO = "music_audio", "Music & Audio Streaming"
    NAVIGATION = "navigation", "Navigation"
    NEWS = "news", "News, Books & Magazines"
    PHOTOGRAPHY_DESIGN = "photography_design", "Photography & Graphic Design"
    PRODUCTIVITY = "productivity", "Productivity"
    PUBLIC_CLOUD = "public_cloud", "Public Cloud"
    SALES_MARKETING = "sales_marketing", "Sales & Marketing"
    SEARCH_ENGINES = "search_engines", "Search Engines"
    SECURITY = "security", "Security"
    SHOPPING = "shopping", "Shopping"
    SOCIAL_NETWORKING = "social_networking", "Social Networking"
    SPORTS = "sports", "Sports"
    TRAVEL = "travel", "Travel"
    VIDEO = "video", "Video Streaming & Editing"
    DO_NOT_INSPECT = "do_not_inspect", "Do Not Inspect"


class Status(models.TextChoices):
    """Approval status. Cloudflare's API spells In review ``in review``; we store ``in_review``."""

    APPROVED = "approved", "Approved"
    UNAPPROVED = "unapproved", "Unapproved"
    IN_REVIEW = "in_review", "In review"
    UNREVIEWED = "unreviewed", "Unreviewed"

    @classmethod
    def parse(cls, value: str) -> Status:
        """Accepts our values and the reference's API spelling (``in review``)."""
        return cls(str(value).strip().lower().replace(" ", "_"))


class Application(models.Model):
    """A SaaS or AI application people reach through the gateway, recognised by its hostnames.

    Catalogue applications ship with the product (``shadow_ai/data/app_library.toml``) and are
    kept in step with it by ``manage.py sync_app_library``, matched on ``key``; only their
    status and evidence overrides are the organization's. Custom applications are added by
    admins and are theirs entirely."""

    class Source(models.TextChoices):
        CATALOGUE = "catalogue", "Library catalogue"
        CUSTOM = "custom", "Custom"

    key = models.SlugField(max_length=80, unique=True, help_text="Stable id, used by policies and the API")
    name = models.CharField(max_length=120, unique=True)
    vendor = models.CharField(max_length=120, blank=True)
    category = models.CharField(max_length=32, choices=Category.choices, db_index=True)
    description = models.CharField(max_length=300, blank=True)
    aliases = models.CharField(max_length=300, blank=True, help_text="Other names people search for")
    url = models.URLField(max_length=500, blank=True, help_text="Where people open it (redirect target)")
    is_gen_ai = models.BooleanField(default=False, db_index=True, verbose_name="generative AI")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.CUSTOM)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNREVIEWED, db_index=True)
    status_reason = models.CharField(max_length=500, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.CharField(max_length=254, blank=True)
    evidence = models.JSONField(default=dict, blank=True, help_text="Shipped evidence, by field")
    evidence_as_of = models.CharField(max_length=20, blank=True)
    trust_url = models.URLField(max_length=500, blank=True)
    saas_score = models.DecimalField(max_digits=2, decimal_places=1, null=True, blank=True, db_index=True)
    genai_score = models.DecimalField(max_digits=2, decimal_places=1, null=True, blank=True, db_index=True)
    # How many of each rubric's scored facts are known: a score from few facts is shown as such.
    saas_known = models.PositiveSmallIntegerField(default=0)
    genai_known = models.PositiveSmallIntegerField(default=0)
    catalogue_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [case_insensitive_unique("shadow_app_name_ci_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_custom(self) -> bool:
        return self.source == self.Source.CUSTOM

    @property
    def launch_url(self) -> str:
        if self.url:
            return self.url
        first = next(iter(h.hostname for h in self.hostnames.all()), "")
        return f"https://{first}/" if first else ""


class ApplicationHostname(models.Model):
    """A hostname of an application; it also covers every subdomain, and the longest matching
    hostname wins (``mail.google.com`` is Gmail even though ``www.google.com`` is Search)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="hostnames")
    hostname = models.CharField(max_length=253, unique=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname


class EvidenceOverride(models.Model):
    """The organization's own value for one evidence field of one application, with why.
    ``value`` None means "unknown" (the admin withdraws a shipped fact)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="overrides")
    field = models.CharField(max_length=40)
    value = models.JSONField(null=True, blank=True)
    note = models.CharField(max_length=500)
    set_by = models.CharField(max_length=254)
    set_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["application", "field"]
        constraints = [
            models.UniqueConstraint(fields=["application", "field"], name="shadow_ai_override_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.application}: {self.field} = {self.value!r}"


class GatewayPolicy(models.Model):
    """An ordered Gateway HTTP policy: every condition must hold (AND); the first enabled policy
    that matches decides, after Do Not Inspect policies, which are evaluated first. See
    ``shadow_ai.gateway.engine`` for the conditions' configuration."""

    class Action(models.TextChoices):
        ALLOW = "allow", "Allow"
        BLOCK = "block", "Block"
        REDIRECT = "redirect", "Redirect"
        ISOLATE = "isolate", "Isolate"
        DO_NOT_INSPECT = "do_not_inspect", "Do Not Inspect"

    name = models.CharField(max_length=120, unique=True)
    description = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    conditions = models.JSONField(default=list)
    block_message = models.CharField(max_length=500, blank=True)
    target = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Redirect: where to. Block: the approved alternative the block page suggests.",
    )
    isolate_block_upload = models.BooleanField(default=False)
    isolate_block_download = models.BooleanField(default=False)
    isolate_block_copy = models.BooleanField(default=False)
    isolate_block_paste = models.BooleanField(default=False)
    isolate_block_print = models.BooleanField(default=False)
    capture_prompts = models.BooleanField(default=False)
    capture_groups = models.JSONField(default=list, blank=True, help_text="Group ids; empty: everyone matched")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name_plural = "gateway policies"
        constraints = [case_insensitive_unique("gateway_policy_name_ci_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def isolation(self) -> dict[str, bool]:
        return {control: getattr(self, f"isolate_block_{control}") for control in ISOLATION_CONTROLS}


ISOLATION_CONTROLS = ("upload", "download", "copy", "paste", "print")


# The usage rollups live in their own module; importing them here registers them with the app.
# The web gateway's certificate authorities and proxy credentials (shadow_ai/gateway/models.py).
from shadow_ai.gateway.models import GatewayCA, GatewayCredential  # noqa: E402, F401
from shadow_ai.usage.models import (  # noqa: E402, F401
    UsageAppDay,
    UsageAppPersonDay,
    UsageAppSeen,
    UsageCountryDay,
    UsageDeviceDay,
    UsageDirtyDay,
    UsageHostDay,
    UsagePersonDay,
    UsageRollupRun,
)
