"""The Shadow AI pages through Django's test client: what each role sees and can do, filters,
bulk changes, overrides, the policy editor and the tester."""

from __future__ import annotations

import json
import re

import pytest

from accounts.tests.factories import GroupFactory
from console.audit.models import AuditEvent
from shadow_ai import services as library_services
from shadow_ai.gateway import services as gateway
from shadow_ai.models import Application, EvidenceOverride, GatewayPolicy, Status

pytestmark = pytest.mark.django_db


def condition_rows(*rows):
    data = {"conditions-TOTAL_FORMS": str(len(rows)), "conditions-INITIAL_FORMS": "0",
            "conditions-MIN_NUM_FORMS": "1", "conditions-MAX_NUM_FORMS": "1000"}
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"conditions-{i}-{key}"] = value
    return data


def names_on(page) -> list[str]:
    return re.findall(r'data-testid="library-row" data-key="([^"]+)"', page.content.decode())


def test_the_library_searches_filters_sorts_and_pages(client_for, auditor, library, app_named, super_admin):
    library_services.application_set_status(actor=super_admin, application=app_named("Claude"), status="approved",
                                            reason="ok")
    client = client_for(auditor)
    first = client.get("/shadow-ai/library/")
    html = first.content.decode()
    assert first.status_code == 200 and "Application library" in html
    assert f"1–25 of {library.total}" in html
    assert "bulk-form" not in html and "Add custom application" not in html  # auditors read only
    assert names_on(client.get("/shadow-ai/library/?q=notion+ai")) == ["notion"]  # aliases
    assert names_on(client.get("/shadow-ai/library/?q=chat.openai")) == ["chatgpt"]  # hostnames
    assert names_on(client.get("/shadow-ai/library/?status=approved")) == ["claude"]
    gen_ai = names_on(client.get("/shadow-ai/library/?gen_ai=yes&category=artificial_intelligence&per_page=100"))
    assert "chatgpt" in gen_ai and "slack" not in gen_ai
    scored = client.get("/shadow-ai/library/?min_genai=4&sort=-genai&per_page=100")
    keys = names_on(scored)
    scores = [Application.objects.get(key=k).genai_score for k in keys]
    assert keys and all(s >= 4 for s in scores) and scores == sorted(scores, reverse=True)
    assert "microsoft-365-copilot" in keys
    page_two = client.get("/shadow-ai/library/?sort=name&page=2")
    assert "26–50 of" in page_two.content.decode()
    partial = client.get("/shadow-ai/library/?q=claude", HTTP_HX_REQUEST="true")
    assert "<html" not in partial.content.decode() and "claude" in names_on(partial)
    empty = client.get("/shadow-ai/library/?q=no-such-app")
    assert "No applications match" in empty.content.decode()


def test_the_library_page_does_not_grow_queries_with_rows(client_for, auditor, library,
                                                          django_assert_max_num_queries):
    client = client_for(auditor)
    with django_assert_max_num_queries(12):
        client.get("/shadow-ai/library/?per_page=100")


def test_an_empty_library_says_how_to_load_it(client_for, auditor):
    assert "python manage.py sync_app_library" in client_for(auditor).get("/shadow-ai/library/").content.decode()


def test_bulk_status_from_the_library(client_for, security_admin, library, app_named):
    client = client_for(security_admin)
    picked = [app_named(n).pk for n in ("DeepSeek", "Poe")]
    response = client.post("/shadow-ai/library/status/", {
        "applications": picked, "status": "unapproved", "reason": "Not approved for company data.",
        "next": "/shadow-ai/library/?q=p",
    })
    assert response.status_code == 302 and response["Location"] == "/shadow-ai/library/?q=p"
    assert set(Application.objects.filter(pk__in=picked).values_list("status", flat=True)) == {"unapproved"}
    assert AuditEvent.objects.filter(action="shadow_ai.application.status_changed").count() == 2
    # Without a reason or a selection nothing changes, and the page says why.
    client.post("/shadow-ai/library/status/", {"applications": picked, "status": "approved", "reason": ""})
    client.post("/shadow-ai/library/status/", {"status": "approved", "reason": "x"})
    assert set(Application.objects.filter(pk__in=picked).values_list("status", flat=True)) == {"unapproved"}
    follow = client.get("/shadow-ai/library/").content.decode()
    assert "Nothing changed" in follow


def test_the_application_page_shows_status_history_scores_and_unknowns(client_for, security_admin, library,
                                                                        app_named):
    client = client_for(security_admin)
    poe = app_named("Poe")
    client.post(f"/shadow-ai/library/{poe.pk}/status/", {"status": "in_review", "reason": "Vendor questionnaire."})
    poe.refresh_from_db()
    assert poe.status == Status.IN_REVIEW
    html = client.get(f"/shadow-ai/library/{poe.pk}/").content.decode()
    assert "Vendor questionnaire." in html and 'data-testid="status-history"' in html
    assert security_admin.email in html
    assert 'data-testid="rubric-saas"' in html and 'data-testid="rubric-gen_ai"' in html
    assert re.search(r'data-testid="score-saas">0\.4<', html)
    assert re.search(r'data-testid="effective-soc2"[^>]*>Unknown<', html)
    assert "1 of 14 facts known" in html

    response = client.post(f"/shadow-ai/library/{poe.pk}/evidence/", {
        "field": "soc2", "value": "true", "note": "Report received."})
    assert response.status_code == 302 and response["Location"].endswith("#evidence-soc2")
    assert EvidenceOverride.objects.get(application=poe, field="soc2").value is True
    html = client.get(f"/shadow-ai/library/{poe.pk}/").content.decode()
    assert re.search(r'data-testid="score-saas">1\.0<', html) and "Report received." in html
    client.post(f"/shadow-ai/library/{poe.pk}/evidence/", {"field": "soc2", "clear": "on", "note": "Expired."})
    assert not EvidenceOverride.objects.filter(application=poe).exists()
    client.post(f"/shadow-ai/library/{poe.pk}/evidence/", {"field": "soc2", "value": "maybe", "note": "x"})
    assert not EvidenceOverride.objects.filter(application=poe).exists()
    client.post(f"/shadow-ai/library/{poe.pk}/status/", {"status": "approved", "reason": ""})
    poe.refresh_from_db()
    assert poe.status == Status.IN_REVIEW


def test_auditors_see_no_forms_and_cannot_post(client_for, auditor, library, app_named):
    client = client_for(auditor)
    claude = app_named("Claude")
    html = client.get(f"/shadow-ai/library/{claude.pk}/").content.decode()
    assert 'data-testid="status-form"' not in html and "Save override" not in html
    assert client.post(f"/shadow-ai/library/{claude.pk}/status/", {"status": "approved", "reason": "x"}
                       ).status_code == 403
    assert client.post("/shadow-ai/policies/order/", "{}", content_type="application/json").status_code == 403


def test_custom_applications_from_the_form(client_for, security_admin, library):
    client = client_for(security_admin)
    bad = client.post("/shadow-ai/library/new/", {"name": "Mirror", "category": "business",
                                                  "hostnames": "chatgpt.com"})
    assert "chatgpt.com already belongs to ChatGPT" in str(bad.context["form"].errors["hostnames"])
    ok = client.post("/shadow-ai/library/new/", {"name": "Acme Assistant", "vendor": "Acme", "category":
                                                 "artificial_intelligence", "hostnames": "assistant.acme.example\n",
                                                 "is_gen_ai": "on"})
    app = Application.objects.get(name="Acme Assistant")
    assert ok["Location"] == f"/shadow-ai/library/{app.pk}/"
    assert app.is_gen_ai and app.launch_url == "https://assistant.acme.example/"
    edit = client.get(f"/shadow-ai/library/{app.pk}/edit/")
    assert "assistant.acme.example" in edit.content.decode()
    catalogue_edit = client.get(f"/shadow-ai/library/{Application.objects.get(key='claude').pk}/edit/")
    assert catalogue_edit.status_code == 302
    client.post(f"/shadow-ai/library/{app.pk}/delete/")
    assert not Application.objects.filter(pk=app.pk).exists()


def test_writing_a_policy_in_the_editor(client_for, security_admin, library, app_named, super_admin):
    library_services.application_set_status(actor=super_admin, application=app_named("Claude"), status="approved",
                                            reason="ok")
    engineering = GroupFactory(name="Engineering")
    client = client_for(security_admin)
    form = client.get("/shadow-ai/policies/new/").content.decode()
    assert 'id="rule-template"' in form and "Approved alternative" in form

    base = {"name": "Redirect unapproved AI to Claude", "action": "redirect", "enabled": "on",
            "target": str(app_named("Claude").pk)}
    bad = client.post("/shadow-ai/policies/new/", {**base, **condition_rows(
        {"type": "application", "operator": "in", "values": "ChatGPT\nNo Such App"})})
    assert "Not in the library: No Such App" in bad.content.decode()
    missing_target = client.post("/shadow-ai/policies/new/", {**base, "target": "", **condition_rows(
        {"type": "gen_ai", "gen_ai": "true"})})
    assert "needs the application to send people to" in missing_target.content.decode()
    assert not GatewayPolicy.objects.exists()

    ok = client.post("/shadow-ai/policies/new/", {**base, **condition_rows(
        {"type": "status", "operator": "in", "statuses": ["unapproved"]},
        {"type": "gen_ai", "gen_ai": "true"},
        {"type": "group", "operator": "not_in", "values": "engineering"},
        {"type": "saas_score", "comparison": "lt", "threshold": "4.5", "match_unscored": "on"},
    )})
    policy = GatewayPolicy.objects.get()
    assert ok["Location"] == f"/shadow-ai/policies/{policy.pk}/"
    assert policy.conditions == [
        {"type": "status", "operator": "in", "values": ["unapproved"]},
        {"type": "gen_ai", "value": True},
        {"type": "group", "operator": "not_in", "values": [engineering.pk]},
        {"type": "saas_score", "comparison": "lt", "value": 4.5, "match_unscored": True},
    ]
    assert policy.target.key == "claude"
    detail = client.get(ok["Location"]).content.decode()
    assert "Status is Unapproved" in detail and "User is not in Engineering" in detail
    assert "SaaS confidence score &lt; 4.5 (or not scored)" in detail
    # The editor shows the stored policy back, and saving it unchanged records nothing.
    edit = client.get(f"/shadow-ai/policies/{policy.pk}/edit/").content.decode()
    assert "Engineering</textarea>" in edit
    client.post(f"/shadow-ai/policies/{policy.pk}/edit/", {**base, **condition_rows(
        {"type": "status", "operator": "in", "statuses": ["unapproved"]},
        {"type": "gen_ai", "gen_ai": "true"},
        {"type": "group", "operator": "not_in", "values": "Engineering"},
        {"type": "saas_score", "comparison": "lt", "threshold": "4.5", "match_unscored": "on"},
    )})
    assert not AuditEvent.objects.filter(action="shadow_ai.gateway_policy.updated").exists()


def test_the_policy_list_orders_by_drag_and_toggles(client_for, security_admin, library, super_admin):
    first = gateway.gateway_policy_create(actor=super_admin, name="First", action="block",
                                          conditions=[{"type": "gen_ai", "value": True}])
    second = gateway.gateway_policy_create(actor=super_admin, name="Second", action="allow",
                                           conditions=[{"type": "gen_ai", "value": False}])
    client = client_for(security_admin)
    html = client.get("/shadow-ai/policies/").content.decode()
    assert 'data-reorder-url="/shadow-ai/policies/order/"' in html and 'draggable="true"' in html
    assert "Generative AI application" in html
    filtered = client.get("/shadow-ai/policies/?q=First").content.decode()
    assert "data-reorder-url" not in filtered  # no reordering a filtered view

    response = client.post("/shadow-ai/policies/order/", json.dumps({"order": [second.pk, first.pk]}),
                           content_type="application/json")
    assert response.json() == {"ok": True, "changed": True}
    assert list(GatewayPolicy.objects.values_list("name", flat=True)) == ["Second", "First"]
    stale = client.post("/shadow-ai/policies/order/", json.dumps({"order": [first.pk]}),
                        content_type="application/json")
    assert stale.status_code == 409 and "reload" in stale.json()["error"]
    assert client.post("/shadow-ai/policies/order/", "nope", content_type="application/json").status_code == 400

    client.post(f"/shadow-ai/policies/{first.pk}/move/", {"direction": "up"})
    assert list(GatewayPolicy.objects.values_list("name", flat=True)) == ["First", "Second"]
    client.post(f"/shadow-ai/policies/{first.pk}/toggle/", {"enabled": "false"})
    assert not GatewayPolicy.objects.get(pk=first.pk).enabled
    client.post(f"/shadow-ai/policies/{second.pk}/delete/")
    assert list(GatewayPolicy.objects.values_list("name", flat=True)) == ["First"]


def test_the_tester_explains_one_person_and_sums_up_everyone(client_for, auditor, library, app_named, super_admin,
                                                             employee):
    library_services.application_set_status(actor=super_admin, application=app_named("ChatGPT"),
                                            status="unapproved", reason="x")
    gateway.gateway_policy_create(actor=super_admin, name="Block unapproved AI", action="block",
                                  conditions=[{"type": "status", "values": ["unapproved"]}],
                                  block_message="Not approved.")
    client = client_for(auditor)
    one = client.get(f"/shadow-ai/tester/?email={employee.email}&destination=https://chatgpt.com/c/1")
    html = one.content.decode()
    assert 'data-testid="tester-action">BLOCK<' in html
    assert "Policy Block unapproved AI blocks ChatGPT: Not approved." in html
    assert "Status is Unapproved" in html
    everyone = client.get("/shadow-ai/tester/?destination=chatgpt.com").content.decode()
    assert re.search(r'data-testid="tester-block">100\.0%<', everyone)
    assert "No active user" in client.get("/shadow-ai/tester/?email=ghost@x.example&destination=chatgpt.com"
                                          ).content.decode()
    assert "Enter a hostname" in client.get("/shadow-ai/tester/?destination=not+a+host").content.decode()
