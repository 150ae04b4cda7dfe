"""AI prompt protection: Gateway HTTP policies with a DLP profile condition on the request body.
The engine's condition and its lazy, once-per-request scan; the evaluate API's body and dlp
answer; the editor, the tester, deleting a profile in use, and compiled policies following
profile changes."""

from __future__ import annotations

import re

import jsonschema_rs
import pytest

from console.audit.models import AuditEvent
from console.core.errors import Conflict
from shadow_ai.dlp import engine as dlp_engine
from shadow_ai.gateway import engine, runtime
from shadow_ai.gateway import services as gateway
from shadow_ai.models import GatewayPolicy

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
PROMPT = f"Why does boto3 refuse my credentials? aws_access_key_id = {AWS_KEY}, region eu-west-1."
CLEAN_PROMPT = "Why does boto3 refuse my credentials? I set the region to eu-west-1."

# --- The engine, no database ------------------------------------------------------------------

SECRETS = dlp_engine.Profile(id=7, name="Credentials and Secrets",
                             entries=(dlp_engine.ENTRIES_BY_KEY["aws_access_key_id"],))
PERSONAL = dlp_engine.Profile(id=8, name="Personal Information", entries=(dlp_engine.ENTRIES_BY_KEY["email"],))
PROFILES = {7: SECRETS, 8: PERSONAL}
CHATGPT = engine.AppFacts(1, "chatgpt", "ChatGPT", "artificial_intelligence", "approved", True)
SLACK = engine.AppFacts(3, "slack", "Slack", "instant_messaging", "approved", False)
ADA = engine.UserFacts("ada@corp.example")


def request(body: str = "", app: engine.AppFacts = CHATGPT) -> engine.GatewayRequest:
    return engine.GatewayRequest(hostname="chatgpt.com", app=app, user=ADA, body=body)


def dlp_policy(operator: str = "in", values=(7,), id: int = 1, app: str = "chatgpt") -> engine.CompiledPolicy:
    return engine.compile_policy(
        id=id, name=f"Protect {app} prompts", action="block", dlp_profiles=PROFILES,
        conditions=[{"type": "application", "values": [app]},
                    {"type": "dlp_profile", "operator": operator, "values": list(values)}])


@pytest.fixture
def scans(monkeypatch) -> list[int]:
    """How many profiles each scan of a body looked at (one item per scan)."""
    calls: list[int] = []
    real = dlp_engine.scan

    def counting(text, profiles, **kw):
        calls.append(len(profiles))
        return real(text, profiles, **kw)

    monkeypatch.setattr(dlp_engine, "scan", counting)
    return calls


def test_a_prompt_with_a_secret_triggers_the_condition(scans):
    policies = engine.evaluation_order([dlp_policy()])
    decision = engine.evaluate(policies, request(PROMPT))
    assert decision.action == engine.Action.BLOCK and decision.policy.name == "Protect chatgpt prompts"
    assert decision.dlp == engine.DlpOutcome(True, (engine.DlpHit(7, "Credentials and Secrets", 1),))
    assert policies[0].conditions[1].label == "DLP profile is Credentials and Secrets"
    clean = engine.evaluate(policies, request(CLEAN_PROMPT))
    assert clean.action == engine.Action.ALLOW and clean.dlp == engine.DlpOutcome(True, ())


def test_is_not_and_no_body():
    negated = engine.evaluation_order([dlp_policy("not_in")])
    assert engine.evaluate(negated, request(PROMPT)).action == engine.Action.ALLOW
    assert engine.evaluate(negated, request(CLEAN_PROMPT)).action == engine.Action.BLOCK
    # Without a body nothing is scanned: "is" does not hold, "is not" does.
    assert engine.evaluate([dlp_policy()], request()).action == engine.Action.ALLOW
    assert engine.evaluate([dlp_policy()], request()).dlp == engine.DlpOutcome(False, ())
    assert engine.evaluate(negated, request()).action == engine.Action.BLOCK


def test_the_body_is_scanned_once_for_every_profile_and_only_when_needed(scans):
    plain = engine.compile_policy(id=9, name="Block Slack", action="block",
                                  conditions=[{"type": "application", "values": ["slack"]}])
    assert engine.evaluate([plain], request(PROMPT)).dlp is None
    assert scans == []  # no DLP condition anywhere: never scanned
    policies = [dlp_policy(values=(8,), id=1), dlp_policy(values=(7,), id=2), plain]
    # The application condition fails first: the DLP conditions are never tested.
    assert engine.evaluate(policies, request(PROMPT, app=SLACK)).dlp is None and scans == []
    decision = engine.evaluate(policies, request(PROMPT))
    assert decision.policy.id == 2 and scans == [2]  # one scan, both profiles, for two conditions
    explained = engine.explain(policies, request(PROMPT))
    assert explained.policy.id == 2 and scans == [2, 2]
    assert [c.matched for c in explained.trace[0].rules] == [True, False]


def test_a_policy_naming_a_missing_profile_does_not_compile():
    with pytest.raises(engine.PolicyError, match=r"condition 2 \(dlp_profile\): DLP profile\(s\) #99 no longer"):
        dlp_policy(values=(99,))
    with pytest.raises(engine.PolicyError, match="'secrets' is not a DLP profile id"):
        dlp_policy(values=("secrets",))


# --- Stored policies, the API, the pages --------------------------------------------------------


@pytest.fixture
def credentials(db):
    from shadow_ai.dlp import predefined
    from shadow_ai.dlp.models import DlpEntry, DlpProfile

    predefined.sync(DlpProfile, DlpEntry)
    return DlpProfile.objects.get(name="Credentials and Secrets")


@pytest.fixture
def prompt_protection(library, credentials, super_admin, django_capture_on_commit_callbacks) -> GatewayPolicy:
    with django_capture_on_commit_callbacks(execute=True):
        return gateway.gateway_policy_create(
            actor=super_admin, name="Keep secrets out of ChatGPT", action="block",
            block_message="Remove the credentials from your prompt.",
            conditions=[{"type": "application", "values": ["chatgpt"]},
                        {"type": "dlp_profile", "values": [str(credentials.pk)]}])


@pytest.fixture
def decision_schema(client):
    document = client.get("/api/v1/openapi.json").json()
    wrapped = {"$ref": "#/components/schemas/GatewayDecision", "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(wrapped)


@pytest.mark.django_db
def test_the_policy_is_stored_with_profile_ids_and_audited(prompt_protection, credentials):
    assert prompt_protection.conditions[1] == {"type": "dlp_profile", "values": [credentials.pk]}
    event = AuditEvent.objects.get(action="shadow_ai.gateway_policy.created")
    assert event.changes["conditions"]["new"][1]["values"] == [credentials.pk]


@pytest.mark.django_db
def test_the_api_blocks_a_chatgpt_prompt_with_an_aws_key(evaluate, gateway_token, prompt_protection, employee,
                                                         credentials, caplog, decision_schema):
    blocked = evaluate(gateway_token, {"url": "https://chatgpt.com/backend-api/conversation", "method": "POST",
                                       "user": {"email": employee.email}, "body": PROMPT})
    answer = blocked.json()
    assert blocked.status_code == 200, answer
    assert answer["action"] == "block" and answer["policy"]["name"] == "Keep secrets out of ChatGPT"
    assert answer["block"]["message"] == "Remove the credentials from your prompt."
    assert answer["dlp"] == {"scanned": True, "triggered": [
        {"id": credentials.pk, "name": "Credentials and Secrets", "matches": 1}]}
    assert AWS_KEY not in blocked.content.decode() and AWS_KEY not in caplog.text
    decision_schema.validate(answer)

    allowed = evaluate(gateway_token, {"url": "https://chatgpt.com/backend-api/conversation", "method": "POST",
                                       "user": {"email": employee.email}, "body": CLEAN_PROMPT}).json()
    assert allowed["action"] == "allow" and allowed["dlp"] == {"scanned": True, "triggered": []}
    # Other applications never reach the DLP condition; without a body nothing can trigger.
    slack = evaluate(gateway_token, {"hostname": "slack.com", "user": {"email": employee.email}, "body": PROMPT})
    assert slack.json()["action"] == "allow" and slack.json()["dlp"] is None
    bodiless = evaluate(gateway_token, {"hostname": "chatgpt.com", "user": {"email": employee.email}}).json()
    assert bodiless["action"] == "allow" and bodiless["dlp"] == {"scanned": False, "triggered": []}
    decision_schema.validate(bodiless)


@pytest.mark.django_db
def test_an_oversized_body_is_refused_naming_the_field(evaluate, gateway_token, prompt_protection, employee):
    response = evaluate(gateway_token, {"hostname": "chatgpt.com", "user": {"email": employee.email},
                                        "body": "x" * 1_000_001})
    answer = response.json()
    assert response.status_code == 400 and answer["action"] == "block"
    assert answer["field"] == "body" and answer["error"].startswith("body is larger than 1 MB")


@pytest.mark.django_db
def test_switching_an_entry_off_reaches_the_cached_policies(settings, prompt_protection, credentials, employee,
                                                           super_admin, django_capture_on_commit_callbacks):
    from console.access import hotcache
    from shadow_ai.dlp import services as dlp_services

    settings.ACCESS_HOT_CACHE = True
    settings.ACCESS_CACHE_SECONDS = 60
    hotcache.clear()

    def decide() -> engine.Decision:
        return runtime.evaluate(hostname="chatgpt.com", email=employee.email, body=PROMPT).decision

    assert decide().action == engine.Action.BLOCK
    assert runtime.compiled_policies() is runtime.compiled_policies()  # compiled once, kept
    entry = credentials.entries.get(predefined_key="aws_access_key_id")
    with django_capture_on_commit_callbacks(execute=True):
        dlp_services.entry_set_enabled(actor=super_admin, entry=entry, enabled=False)
    after = decide()
    assert after.action == engine.Action.ALLOW and after.dlp == engine.DlpOutcome(True, ())


@pytest.mark.django_db
def test_a_profile_a_policy_uses_cannot_be_deleted(prompt_protection, super_admin, django_capture_on_commit_callbacks):
    from shadow_ai.dlp import services as dlp_services

    custom = dlp_services.profile_create(actor=super_admin, name="Project names")
    dlp_services.entry_create(actor=super_admin, profile=custom, kind="wordlist", name="Code names",
                              words="bluebird\nnightjar")
    with django_capture_on_commit_callbacks(execute=True):
        gateway.gateway_policy_update(
            actor=super_admin, policy=prompt_protection, name=prompt_protection.name, action="block",
            conditions=[*prompt_protection.conditions, {"type": "dlp_profile", "values": [custom.pk]}])
    with pytest.raises(Conflict, match="Project names is used by the Gateway policy Keep secrets out of ChatGPT"):
        dlp_services.profile_delete(actor=super_admin, profile=custom)
    assert not AuditEvent.objects.filter(action="dlp.profile.deleted").exists()
    with django_capture_on_commit_callbacks(execute=True):
        gateway.gateway_policy_delete(actor=super_admin, policy=prompt_protection)
    dlp_services.profile_delete(actor=super_admin, profile=custom)
    assert AuditEvent.objects.filter(action="dlp.profile.deleted").exists()


def _editor_post(name: str, rows: list[dict]) -> dict:
    data = {"name": name, "action": "block", "enabled": "on",
            "conditions-TOTAL_FORMS": str(len(rows)), "conditions-INITIAL_FORMS": "0",
            "conditions-MIN_NUM_FORMS": "1", "conditions-MAX_NUM_FORMS": "1000"}
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"conditions-{i}-{key}"] = value
    return data


@pytest.mark.django_db
def test_the_editor_offers_dlp_profiles_and_the_tester_shows_what_matched(client_for, security_admin, library,
                                                                         credentials, employee):
    client = client_for(security_admin)
    page = client.get("/shadow-ai/policies/new/").content.decode()
    assert '<option value="dlp_profile">DLP profile</option>' in page
    assert re.search(rf'<option value="{credentials.pk}">Credentials and Secrets</option>', page)
    assert 'href="/shadow-ai/dlp/profiles/"' in page

    empty = client.post("/shadow-ai/policies/new/", _editor_post("Nothing chosen", [
        {"type": "dlp_profile", "operator": "in"}]))
    assert "DLP profile: pick at least one." in empty.content.decode()
    response = client.post("/shadow-ai/policies/new/", _editor_post("Keep secrets out of ChatGPT", [
        {"type": "application", "operator": "in", "values": "ChatGPT"},
        {"type": "dlp_profile", "operator": "in", "dlp_profiles": [str(credentials.pk)]}]))
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = GatewayPolicy.objects.get(name="Keep secrets out of ChatGPT")
    assert policy.conditions[1] == {"type": "dlp_profile", "operator": "in", "values": [credentials.pk]}
    detail = client.get(f"/shadow-ai/policies/{policy.pk}/").content.decode()
    assert "DLP profile is Credentials and Secrets" in detail
    edit = client.get(f"/shadow-ai/policies/{policy.pk}/edit/").content.decode()
    assert re.search(rf'<option value="{credentials.pk}" selected>Credentials and Secrets</option>', edit)

    tested = client.post("/shadow-ai/tester/", {"email": employee.email, "destination": "chatgpt.com",
                                                "body": PROMPT}).content.decode()
    assert 'data-testid="tester-action">BLOCK<' in tested
    assert re.search(r'data-testid="tester-dlp"><a href="[^"]+">Credentials and Secrets</a> \(1 match\)', tested)
    assert tested.count(AWS_KEY) == 1  # only echoed back in the form's textarea
    clean = client.post("/shadow-ai/tester/", {"email": employee.email, "destination": "chatgpt.com",
                                               "body": CLEAN_PROMPT}).content.decode()
    assert 'data-testid="tester-action">ALLOW<' in clean and "triggered none of the DLP profiles" in clean
    everyone = client.post("/shadow-ai/tester/", {"destination": "chatgpt.com", "body": PROMPT}).content.decode()
    assert re.search(r'data-testid="tester-block">100\.0%<', everyone) and "(1 match)" in everyone
    # A body never travels in a URL: a GET ignores it.
    by_get = client.get("/shadow-ai/tester/", {"email": employee.email, "destination": "chatgpt.com",
                                               "body": PROMPT}).content.decode()
    assert 'data-testid="tester-action">ALLOW<' in by_get and "No request body" in by_get


@pytest.mark.django_db
def test_the_policy_list_reads_profiles_and_groups_once_however_many_policies(
        client_for, security_admin, library, credentials, super_admin, django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from accounts.tests.factories import GroupFactory

    group = GroupFactory(name="Engineering")

    def add(n: int) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            for i in range(n):
                gateway.gateway_policy_create(
                    actor=super_admin, name=f"Secrets {GatewayPolicy.objects.count()}-{i}", action="block",
                    conditions=[{"type": "group", "values": [str(group.pk)]},
                                {"type": "dlp_profile", "values": [str(credentials.pk)]}])

    client = client_for(security_admin)

    def queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as seen:
            page = client.get(reverse("shadow_ai:policy-list")).content.decode()
        return len(seen.captured_queries), page

    add(2)
    few, _ = queries()
    add(6)
    many, page = queries()
    assert many == few  # no query per policy
    assert page.count("DLP profile is Credentials and Secrets") == 8
    assert "Engineering" in page
