"""CASB for the demo organization: two integrations in a "demo" state (no credentials, never
scanned, labelled Demo everywhere) with findings made by the connectors' own mapping code from
sample vendor objects, so they look exactly like scanned ones. No network. Idempotent: findings
are upserted by their stable keys, so a second run leaves the same findings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from console.audit.services import audit_record
from console.core import demo
from shadow_ai.casb import scanner
from shadow_ai.casb.connectors.base import DlpCheck, Observation
from shadow_ai.casb.connectors.google_workspace import mapping as google
from shadow_ai.casb.connectors.openai import mapping as openai
from shadow_ai.casb.models import Finding, Integration
from shadow_ai.dlp import engine as dlp_engine

GOOGLE = "Google Workspace (demo)"
OPENAI = "OpenAI (demo)"
SCOPE = "https://www.googleapis.com/auth/"
IGNORED = (OPENAI, openai.STALE_INVITE.key, "Contractors accept their invites late; reviewed monthly.")


def _google_observations(now: datetime) -> list[Observation]:
    def at(days: int) -> str:
        return (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def person(uid: str, email: str, **extra) -> dict:
        return {"id": uid, "primaryEmail": email, "isAdmin": False, "suspended": False, "isEnrolledIn2Sv": True,
                "lastLoginTime": at(1), "creationTime": at(400), "recoveryEmail": "x@home.example",
                "recoveryPhone": "+15555550100", **extra}

    people = [
        person("d1", "it.admin@acme.example", isAdmin=True, isEnrolledIn2Sv=False),
        person("d2", "sam.sales@acme.example", isEnrolledIn2Sv=False, recoveryPhone=""),
        person("d3", "olga.ops@acme.example", lastLoginTime=at(75)),
        person("d4", "former.admin@acme.example", isAdmin=True, suspended=True),
        person("d5", "dev.dana@acme.example"),
    ]
    grants = {
        "d2": [("demo-chatgpt.apps.googleusercontent.com", "ChatGPT", [SCOPE + "drive.readonly", "openid"]),
               ("demo-notes.apps.googleusercontent.com", "MeetingNotes AI", [SCOPE + "calendar.readonly"])],
        "d3": [("demo-chatgpt.apps.googleusercontent.com", "ChatGPT", [SCOPE + "drive.readonly"]),
               ("demo-mail.apps.googleusercontent.com", "Mail Merge Pro", ["https://mail.google.com/"])],
        "d5": [("demo-claude.apps.googleusercontent.com", "Claude", ["openid", "email", "profile"]),
               ("demo-deepseek.apps.googleusercontent.com", "DeepSeek", [SCOPE + "documents", "openid"])],
    }
    found: list[Observation] = []
    for row in people:
        found += google.user(row, inactive_before=now - timedelta(days=30))
        tokens = [{"clientId": c, "displayText": n, "scopes": s} for c, n, s in grants.get(row["id"], [])]
        found += google.tokens(row, tokens)
    by_id = {row["id"]: row for row in people}
    company = {"acme.example"}

    def shared(file_id: str, name: str, *permissions: dict) -> dict:
        return {"id": file_id, "name": name, "mimeType": "application/vnd.google-apps.spreadsheet",
                "webViewLink": f"https://docs.google.com/spreadsheets/d/{file_id}/edit", "shared": True,
                "permissions": list(permissions)}

    # What the demo's public pipeline sheet holds, scanned with the predefined Financial Information profile
    # (a Visa test number), so its DLP finding is made and redacted the way a scan makes it.
    financial = next(p for p in dlp_engine.PREDEFINED_PROFILES if p.key == "financial_information")
    dlp = DlpCheck((dlp_engine.Profile(id=financial.key, name=financial.name, entries=tuple(
        dlp_engine.ENTRIES_BY_KEY[k] for k in financial.entry_keys)),), 1 << 20)
    contents = {"demo-pipeline": "Deal,Amount,Card on file\r\nGlobex renewal,12000,4111 1111 1111 1111\r\n"}
    for owner, row in (
        ("d2", shared("demo-pipeline", "Sales pipeline Q3", {"type": "anyone", "role": "writer"})),
        ("d2", shared("demo-pricing", "Partner pricing", {"type": "user", "role": "reader",
                                                          "emailAddress": "buyer@partner.example"})),
        ("d5", shared("demo-api-notes", "API keys and notes", {"type": "anyone", "role": "reader"},
                      {"type": "domain", "role": "writer", "domain": "acme.example"})),
    ):
        sharing = google.file_sharing(row, by_id[owner]["primaryEmail"], company)
        found += sharing
        results = dlp.scan(contents.get(row["id"], ""))
        if results:
            found += google.file_dlp(sharing, DlpCheck.details(results))
    found += google.public_calendar(by_id["d3"], [{"scope": {"type": "default"}, "role": "reader"}])
    found += google.mail_delegates(by_id["d1"], [{"delegateEmail": "assistant@acme.example",
                                                 "verificationStatus": "accepted"}])
    return found


def _openai_observations(now: datetime) -> list[Observation]:
    def ts(days: float) -> int:
        return int((now - timedelta(days=days)).timestamp())

    limits = {"now": now, "rotate_before": now - timedelta(days=90), "unused_before": now - timedelta(days=30)}
    ada = {"type": "user", "object": "organization.user", "id": "user-demo-admin", "name": "it.admin", "role": "owner"}
    found: list[Observation] = []
    for key in ({"id": "demo_key_tf", "name": "Terraform", "redacted_value": "sk-admin...a1b2", "created_at": ts(210),
                 "last_used_at": ts(2), "expires_at": None, "owner": ada},
                {"id": "demo_key_export", "name": "Usage export", "redacted_value": "sk-admin...c3d4",
                 "created_at": ts(70), "last_used_at": ts(50), "expires_at": ts(-20), "owner": ada}):
        found += openai.admin_key(key, **limits)
    project = {"id": "demo_proj_web", "name": "Website chatbot"}
    found += openai.project_key({"id": "demo_pk_prod", "name": "production", "redacted_value": "sk-proj-...9f9f",
                                 "created_at": ts(140), "last_used_at": ts(0.2),
                                 "owner": {"type": "service_account", "service_account": {"name": "chatbot"}}},
                                project, **limits)
    for invite in ({"id": "demo-inv-1", "email": "partner@agency.example", "role": "owner", "status": "pending",
                    "created_at": ts(1)},
                   {"id": "demo-inv-2", "email": "new.hire@acme.example", "role": "reader", "status": "pending",
                    "created_at": ts(15)}):
        found += openai.invite(invite, stale_before=now - timedelta(days=7))
    found += openai.user({"id": "demo-user-ghost", "email": "ghost@acme.example", "role": "reader",
                          "added_at": ts(200)}, active=set(), inactive_before=now - timedelta(days=30))
    tools = [{"type": "custom_action", "action_domain": "crm.partner.example"}, {"type": "browser"}]
    found += openai.gpt({"id": "g-demo-sales", "owner_email": "sam.sales@acme.example",
                         "sharing": {"visibility": "anyone-with-link"},
                         "latest_config": {"data": [{"name": "Sales deck helper", "tools": {"data": tools}}]}})
    return found


@transaction.atomic
def seed_casb_demo() -> dict[str, int]:
    now = timezone.now().astimezone(UTC)
    made = {}
    for name, vendor, config, observations in (
        (GOOGLE, "google_workspace", {"admin_email": "it.admin@acme.example", "customer_id": "my_customer"},
         _google_observations(now)),
        (OPENAI, "openai", {"workspace_id": "demo-workspace"}, _openai_observations(now)),
    ):
        integration, created = Integration.objects.update_or_create(name=name, defaults={
            "vendor": vendor, "is_demo": True, "config": config, "credentials": "", "base_url": "",
            "status": Integration.Status.ACTIVE, "attention_message": "", "scan_interval_hours": 24,
            "next_scan_at": None, "last_scan_at": now, "last_success_at": now,
        })
        if created:
            integration.created_at = now - timedelta(days=14)
            integration.save(update_fields=["created_at"])
        scanner.store(integration, None, observations, now)
        made[name] = len(observations)
    integration_name, type_key, reason = IGNORED
    Finding.objects.filter(integration__name=integration_name, type_key=type_key).exclude(status="ignored").update(
        status=Finding.Status.IGNORED, status_reason=reason, status_changed_at=now,
        status_changed_by="security@acme.example")
    audit_record(actor=None, action="demo.seeded", object_type="casb.integration",
                 object_repr=f"Demo CASB integrations: {GOOGLE}, {OPENAI}", changes={"instances": made})
    return {"integrations": len(made), "instances": sum(made.values()),
            "findings": Finding.objects.filter(integration__is_demo=True).count()}


@demo.register("casb", order=60)
def seed_step(run: demo.DemoRun) -> list[str]:
    casb = seed_casb_demo()
    return [f"CASB: {casb['integrations']} demo integrations (sample data, never scanned) with {casb['findings']} "
            "findings."]
