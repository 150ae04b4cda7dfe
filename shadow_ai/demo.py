"""Shadow AI for the demo organization: the shipped library, a few reviewed applications and
Gateway policies (idempotent: a second run leaves everything as the first left it)."""

from __future__ import annotations

from django.db import transaction

from accounts.models import Group, User
from console.access import policies as access_policies
from console.audit.services import audit_record
from console.core import demo
from shadow_ai.catalogue import sync_library
from shadow_ai.models import Application, GatewayPolicy, Status
from shadow_ai.usage.demo import seed_usage_demo

REVIEWER = "security@acme.example"

STATUSES = {
    "claude": (Status.APPROVED, "Company AI assistant: enterprise agreement, no training on our data."),
    "microsoft-365-copilot": (Status.APPROVED, "Covered by the Microsoft 365 agreement."),
    "github-copilot": (Status.APPROVED, "Copilot Business for Engineering."),
    "notion": (Status.APPROVED, "Company wiki and docs."),
    "slack": (Status.APPROVED, "Company chat."),
    "zoom": (Status.APPROVED, "Company meetings."),
    "chatgpt": (Status.UNAPPROVED, "Consumer plans may train on prompts; use Claude instead."),
    "deepseek": (Status.UNAPPROVED, "Data stored abroad, training on prompts, recent data exposure."),
    "character-ai": (Status.UNAPPROVED, "No business use."),
    "perplexity": (Status.IN_REVIEW, "Legal is reviewing the enterprise terms."),
    "cursor": (Status.IN_REVIEW, "Engineering pilot; privacy mode under review."),
    "grammarly": (Status.IN_REVIEW, "Security questionnaire sent."),
}

# name: (position, action, conditions, extra fields)
POLICIES = (
    ("Block AI for high-risk users", "block",
     [{"type": "risk_score", "operator": "in", "values": ["high"]}, {"type": "gen_ai", "value": True}],
     {"block_message": "Your account is under review by Security; AI tools are paused until it is cleared.",
      "description": "Follows the user risk score."}),
    ("Redirect unapproved AI to Claude", "redirect",
     [{"type": "status", "operator": "in", "values": ["unapproved"]}, {"type": "gen_ai", "value": True}],
     {"target": "claude", "description": "Unapproved AI assistants send people to the company's approved one."}),
    ("Isolate AI under review", "isolate",
     [{"type": "status", "operator": "in", "values": ["in_review", "unreviewed"]}, {"type": "gen_ai", "value": True}],
     {"isolation": {"upload": True, "download": True, "copy": True, "paste": False, "print": True},
      "description": "Read-only use while Security reviews them: no uploads, downloads or copying out."}),
    ("Capture Engineering prompts to approved AI", "allow",
     [{"type": "status", "operator": "in", "values": ["approved"]}, {"type": "gen_ai", "value": True}],
     {"capture_prompts": True, "capture_groups": ["Engineering"],
      "description": "Prompt logging for the AI prompt protection pilot."}),
)


def seed_shadow_ai_demo() -> dict[str, int]:
    """The library, reviewed applications and policies; then 30 days of Gateway logs rolled up
    for the usage dashboards."""

    result = _seed_library_and_policies()
    usage = seed_usage_demo()
    return {**result, "usage_rows": usage["rows"], "usage_days": usage["days"]}


@transaction.atomic
def _seed_library_and_policies() -> dict[str, int]:
    library = sync_library()
    apps = {a.key: a for a in Application.objects.filter(key__in=[*STATUSES, "claude"])}
    reviewer = User.objects.filter(email=REVIEWER).first()
    for key, (status, reason) in STATUSES.items():
        app = apps.get(key)
        if app is None or (app.status, app.status_reason) == (status, reason):
            continue
        old = app.status
        app.status, app.status_reason = status, reason
        # Recorded like a reviewer's change, so the app page's status history shows the change its
        # "since … by …" line describes.
        event = audit_record(actor=reviewer, action="shadow_ai.application.status_changed", obj=app,
                             changes={"status": {"old": old, "new": str(status)}, "reason": reason})
        app.status_changed_at, app.status_changed_by = event.at, reviewer.email if reviewer else "demo data"
        app.save(update_fields=["status", "status_reason", "status_changed_at", "status_changed_by"])
    groups = dict(Group.objects.values_list("name", "pk"))
    for position, (name, action, conditions, extra) in enumerate(POLICIES, start=1):
        extra = dict(extra)
        isolation = extra.pop("isolation", {})
        target = apps.get(extra.pop("target", ""))
        capture_groups = [groups[g] for g in extra.pop("capture_groups", []) if g in groups]
        GatewayPolicy.objects.update_or_create(name=name, defaults={
            "position": position, "action": action, "conditions": conditions, "enabled": True, "target": target,
            "capture_groups": capture_groups,
            **{f"isolate_block_{c}": on for c, on in isolation.items()}, **extra,
        })
    others = GatewayPolicy.objects.exclude(name__in=[p[0] for p in POLICIES]).order_by("position", "pk")
    for offset, policy in enumerate(others, start=len(POLICIES) + 1):
        if policy.position != offset:
            GatewayPolicy.objects.filter(pk=policy.pk).update(position=offset)
    audit_record(actor=None, action="demo.seeded", object_type="shadow_ai.application",
                 object_repr=f"Demo Shadow AI setup: {len(STATUSES)} reviewed applications, {len(POLICIES)} policies",
                 changes={"library": library.total, "statuses": len(STATUSES), "policies": len(POLICIES)})
    transaction.on_commit(access_policies.bump_version)
    return {"applications": Application.objects.count(), "reviewed": len(STATUSES), "policies": len(POLICIES)}


@demo.register("shadow_ai", order=50)
def seed_step(run: demo.DemoRun) -> list[str]:
    shadow = seed_shadow_ai_demo()
    return [f"Shadow AI: {shadow['applications']} applications in the library, {shadow['reviewed']} reviewed, "
            f"{shadow['policies']} Gateway policies; {shadow['usage_rows']} new Gateway log rows for the usage "
            f"dashboards, {shadow['usage_days']} day(s) rolled up."]
