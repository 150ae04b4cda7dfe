"""Approval statuses (one and many), custom applications and evidence overrides: each change
audited with who and why, bad input refused with the field to fix."""

from __future__ import annotations

from decimal import Decimal

import pytest

from console.audit.models import AuditEvent
from console.core.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from shadow_ai import scoring, services
from shadow_ai.models import Application, EvidenceOverride, Status

pytestmark = pytest.mark.django_db


def test_a_status_change_is_audited_with_who_and_why(library, app_named, security_admin):
    chatgpt = app_named("ChatGPT")
    assert services.application_set_status(actor=security_admin, application=chatgpt, status="unapproved",
                                           reason="  Trains on prompts by default.  ")
    chatgpt.refresh_from_db()
    assert (chatgpt.status, chatgpt.status_reason, chatgpt.status_changed_by) == (
        Status.UNAPPROVED, "Trains on prompts by default.", security_admin.email)
    event = AuditEvent.objects.get(action="shadow_ai.application.status_changed")
    assert (event.actor_email, event.object_type, event.object_id) == (
        security_admin.email, "shadow_ai.application", str(chatgpt.pk))
    assert event.changes == {"status": {"old": "unreviewed", "new": "unapproved"},
                             "reason": "Trains on prompts by default."}
    # The same status again is no change and no audit row.
    assert not services.application_set_status(actor=security_admin, application=chatgpt, status="unapproved",
                                               reason="again")
    assert AuditEvent.objects.filter(action="shadow_ai.application.status_changed").count() == 1
    # The reference's API spelling is accepted.
    services.application_set_status(actor=security_admin, application=chatgpt, status="in review", reason="Re-open.")
    chatgpt.refresh_from_db()
    assert chatgpt.status == Status.IN_REVIEW


def test_a_status_needs_a_reason_a_known_value_and_an_admin(library, app_named, security_admin, auditor):
    claude = app_named("Claude")
    with pytest.raises(ValidationFailed, match="a reason is required") as caught:
        services.application_set_status(actor=security_admin, application=claude, status="approved", reason="  ")
    assert caught.value.field == "reason"
    with pytest.raises(ValidationFailed, match="Unknown status 'sanctioned'") as caught:
        services.application_set_status(actor=security_admin, application=claude, status="sanctioned", reason="x")
    assert caught.value.field == "status"
    with pytest.raises(PermissionRefused):
        services.application_set_status(actor=auditor, application=claude, status="approved", reason="x")
    claude.refresh_from_db()
    assert claude.status == Status.UNREVIEWED
    assert not AuditEvent.objects.filter(action="shadow_ai.application.status_changed").exists()


def test_bulk_status_changes_each_application_with_one_reason(library, app_named, super_admin):
    apps = [app_named(n) for n in ("DeepSeek", "Poe", "Character.AI")]
    services.application_set_status(actor=super_admin, application=apps[1], status="unapproved", reason="earlier")
    count = services.applications_set_status(actor=super_admin, application_ids=[a.pk for a in apps],
                                             status="unapproved", reason="No business use approved.")
    assert count == 2  # Poe already was
    assert set(Application.objects.filter(pk__in=[a.pk for a in apps]).values_list("status", flat=True)) == {
        "unapproved"}
    events = AuditEvent.objects.filter(action="shadow_ai.application.status_changed",
                                       changes__reason="No business use approved.")
    assert sorted(int(e.object_id) for e in events) == sorted([apps[0].pk, apps[2].pk])
    assert len({e.changes["batch"] for e in events}) == 1
    with pytest.raises(ValidationFailed, match="Pick at least one application"):
        services.applications_set_status(actor=super_admin, application_ids=[], status="approved", reason="x")
    with pytest.raises(NotFound, match="Unknown application id"):
        services.applications_set_status(actor=super_admin, application_ids=[apps[0].pk, 999999],
                                         status="approved", reason="x")
    assert Application.objects.get(pk=apps[0].pk).status == "unapproved"  # nothing half-done


def test_custom_applications_validate_hostnames_across_the_library(library, super_admin):
    app = services.application_create(actor=super_admin, name="Acme Copilot", vendor="Acme", category="business",
                                      hostnames=["Copilot.Acme.example", "", "acme-ai.example"], is_gen_ai=True)
    assert app.key == "custom-acme-copilot" and app.source == "custom" and app.status == "unreviewed"
    assert sorted(app.hostnames.values_list("hostname", flat=True)) == ["acme-ai.example", "copilot.acme.example"]
    assert (app.saas_score, app.genai_score) == (None, None)
    assert AuditEvent.objects.filter(action="shadow_ai.application.created", object_id=str(app.pk)).exists()

    cases = [
        ({"hostnames": ["chatgpt.com"]}, Conflict, "chatgpt.com already belongs to ChatGPT", "hostnames"),
        ({"hostnames": ["copilot.acme.example"]}, Conflict, "already belongs to Acme Copilot", "hostnames"),
        ({"hostnames": ["*.x.example"]}, ValidationFailed, "leave out the *.", "hostnames"),
        ({"hostnames": ["x.example", "a.x.example"]}, ValidationFailed, "overlap", "hostnames"),
        ({"hostnames": ["x.example", "X.example"]}, ValidationFailed, "listed twice", "hostnames"),
        ({"hostnames": []}, ValidationFailed, "at least one hostname", "hostnames"),
        ({"name": "chatgpt"}, Conflict, "already in the library", "name"),
        ({"category": "toys"}, ValidationFailed, "Unknown category", "category"),
        ({"url": "javascript:alert(1)"}, ValidationFailed, "must start with https://", "url"),
    ]
    for change, error, message, field in cases:
        data = {"name": "Other", "category": "business", "hostnames": ["other.example"], **change}
        with pytest.raises(error, match=None) as caught:
            services.application_create(actor=super_admin, **data)
        assert message in caught.value.message and caught.value.field == field, change


def test_custom_applications_can_be_edited_and_deleted_catalogue_ones_cannot(library, app_named, super_admin):
    app = services.application_create(actor=super_admin, name="Wiki AI", category="productivity",
                                      hostnames=["wiki-ai.example"])
    services.application_update(actor=super_admin, application=app, name="Wiki AI", category="productivity",
                                hostnames=["wiki-ai.example", "ai.wiki.example"], is_gen_ai=True)
    app.refresh_from_db()
    assert app.is_gen_ai and app.hostnames.count() == 2
    event = AuditEvent.objects.get(action="shadow_ai.application.updated")
    assert event.changes["hostnames"] == {"old": ["wiki-ai.example"], "new": ["ai.wiki.example", "wiki-ai.example"]}
    assert event.changes["is_gen_ai"] == {"old": False, "new": True}

    with pytest.raises(Conflict, match="comes with the library"):
        services.application_update(actor=super_admin, application=app_named("Claude"), name="Claude",
                                    category="business", hostnames=["claude.ai"])
    with pytest.raises(Conflict, match="comes with the library"):
        services.application_delete(actor=super_admin, application=app_named("Claude"))

    services.application_delete(actor=super_admin, application=app)
    assert not Application.objects.filter(pk=app.pk).exists()
    assert AuditEvent.objects.filter(action="shadow_ai.application.deleted", object_id=str(app.pk)).exists()


def test_an_application_a_policy_names_cannot_be_deleted(library, super_admin):
    from shadow_ai.gateway import services as gateway

    app = services.application_create(actor=super_admin, name="Wiki AI", category="productivity",
                                      hostnames=["wiki-ai.example"])
    gateway.gateway_policy_create(actor=super_admin, name="Block wiki AI", action="block",
                                  conditions=[{"type": "application", "values": [app.key]}])
    with pytest.raises(Conflict, match="used by the Gateway policies Block wiki AI"):
        services.application_delete(actor=super_admin, application=app)


def test_evidence_overrides_rescore_and_are_audited(library, app_named, security_admin):
    poe = app_named("Poe")
    before = poe.saas_score
    services.evidence_override_set(actor=security_admin, application=poe, field="soc2", value=True,
                                   note="SOC 2 Type II report received 2025-09.")
    poe.refresh_from_db()
    # financial standing "private" 0.4, plus SOC 2 only: 0.6.
    assert (before, poe.saas_score) == (Decimal("0.4"), Decimal("1.0"))
    override = EvidenceOverride.objects.get(application=poe, field="soc2")
    assert (override.value, override.set_by) == (True, security_admin.email)
    event = AuditEvent.objects.get(action="shadow_ai.evidence.overridden")
    assert event.changes["soc2"] == {"old": "Unknown", "new": "Yes"}
    assert event.changes["note"] == "SOC 2 Type II report received 2025-09."
    assert event.changes["saas_score"] == {"old": "0.4", "new": "1.0"}

    # Withdrawing a shipped fact: "unknown" overrides the catalogue's value.
    services.evidence_override_set(actor=security_admin, application=poe, field="financial_standing", value=None,
                                   note="Could not confirm.")
    poe.refresh_from_db()
    assert poe.saas_score == Decimal("0.6")

    assert services.evidence_override_clear(actor=security_admin, application=poe, field="financial_standing",
                                            note="Confirmed after all.")
    poe.refresh_from_db()
    assert poe.saas_score == Decimal("1.0")
    assert not services.evidence_override_clear(actor=security_admin, application=poe, field="iso27001", note="x")


def test_evidence_overrides_refuse_bad_values(library, app_named, security_admin):
    slack, claude = app_named("Slack"), app_named("Claude")
    with pytest.raises(ValidationFailed, match="not a generative AI application"):
        services.evidence_override_set(actor=security_admin, application=slack, field="iso42001", value=True,
                                       note="x")
    with pytest.raises(ValidationFailed, match="Unknown evidence field"):
        services.evidence_override_set(actor=security_admin, application=claude, field="soc3", value=True, note="x")
    with pytest.raises(ValidationFailed, match="is not one of") as caught:
        services.evidence_override_set(actor=security_admin, application=claude, field="training_on_customer_data",
                                       value="sometimes", note="x")
    assert caught.value.field == "value"
    with pytest.raises(ValidationFailed, match="a reason is required") as caught:
        services.evidence_override_set(actor=security_admin, application=claude, field="soc2", value=False,
                                       note="")
    assert caught.value.field == "reason"
    assert not EvidenceOverride.objects.exists()
    assert scoring.FIELDS["soc2"].display(True) == "Yes"
