"""A Gateway policy that can never match because an earlier one always decides first is found
from the policies' conditions, named on save and on its page; the engine agrees."""

from __future__ import annotations

import pytest

from shadow_ai import services as library_services
from shadow_ai.gateway import runtime
from shadow_ai.gateway import services as gateway
from shadow_ai.gateway.shadowing import PolicyShape, condition_implies, covers, shadowed_by
from shadow_ai.tests.test_pages import condition_rows


def status(*values, op="in"):
    return {"type": "status", "operator": op, "values": list(values)}


def shape(pk, action, *conditions, position=None, enabled=True, target=None):
    return PolicyShape(pk, f"P{pk}", position or pk, action, tuple(conditions), enabled, target)


GEN_AI = {"type": "gen_ai", "value": True}


@pytest.mark.parametrize(("later", "earlier", "implied"), [
    (status("unapproved"), status("unapproved", "in_review"), True),
    (status("unapproved", "in_review"), status("unapproved"), False),
    (status("approved"), status("unapproved", op="not_in"), True),  # one status per app
    (status("unapproved", "in_review", op="not_in"), status("unapproved", op="not_in"), True),
    (status("unapproved", op="not_in"), status("unapproved", "in_review", op="not_in"), False),
    ({"type": "group", "operator": "in", "values": [1]}, {"type": "group", "operator": "not_in", "values": [2]},
     False),  # people are in several groups
    ({"type": "hostname", "operator": "in", "values": ["chat.example.com"]},
     {"type": "hostname", "operator": "in", "values": ["example.com"]}, True),
    ({"type": "hostname", "operator": "in", "values": ["example.com"]},
     {"type": "hostname", "operator": "in", "values": ["chat.example.com"]}, False),
    ({"type": "user_email", "operator": "in", "values": ["ann@corp.example"]},
     {"type": "user_email", "operator": "in", "values": ["@corp.example"]}, True),
    ({"type": "saas_score", "comparison": "lt", "value": 2}, {"type": "saas_score", "comparison": "lte", "value": 3},
     True),
    ({"type": "saas_score", "comparison": "lt", "value": 2, "match_unscored": True},
     {"type": "saas_score", "comparison": "lt", "value": 3}, False),
    (GEN_AI, GEN_AI, True),
    (GEN_AI, {"type": "gen_ai", "value": False}, False),
    ({"type": "prompt_topic", "values": ["pii"]}, {"type": "prompt_topic", "values": ["pii"]}, True),  # unknown type
])
def test_one_condition_implies_another_only_when_it_is_provable(later, earlier, implied):
    assert condition_implies(later, earlier) is implied


def test_an_earlier_policy_shadows_when_its_conditions_hold_whenever_the_later_ones_do():
    broad = shape(1, "block", status("unapproved"))
    narrow = shape(2, "isolate", status("unapproved"), GEN_AI)
    assert covers(broad, narrow) and not covers(narrow, broad)
    assert shadowed_by([broad, narrow], narrow) == broad
    assert shadowed_by([broad, narrow], broad) is None
    # Disabled, or evaluated later, it decides nothing first.
    assert shadowed_by([shape(1, "block", status("unapproved"), enabled=False), narrow], narrow) is None
    assert shadowed_by([shape(3, "block", status("unapproved")), narrow], narrow) is None
    # Do Not Inspect is evaluated before everything, whatever its position.
    dni = shape(5, "do_not_inspect", status("unapproved", "approved"))
    assert shadowed_by([narrow, dni], narrow) == dni
    assert shadowed_by([dni, shape(6, "do_not_inspect", status("approved"))], shape(6, "do_not_inspect",
                                                                                     status("approved"))) == dni


def test_a_redirect_shadows_only_requests_that_are_not_for_its_own_target():
    redirect = shape(1, "redirect", GEN_AI, target="claude")
    later = shape(2, "block", GEN_AI, status("unapproved"))
    assert shadowed_by([redirect, later], later) is None  # requests to Claude itself reach it
    only_chatgpt = shape(3, "block", GEN_AI, {"type": "application", "operator": "in", "values": ["chatgpt"]})
    assert shadowed_by([redirect, only_chatgpt], only_chatgpt) == redirect


@pytest.mark.django_db
def test_the_engine_agrees_the_shadowed_policy_never_decides(library, app_named, security_admin, employee):
    first = gateway.gateway_policy_create(actor=security_admin, name="Block unapproved", action="block",
                                          conditions=[status("unapproved")])
    gateway.gateway_policy_create(actor=security_admin, name="Isolate unapproved AI", action="isolate",
                                  conditions=[status("unapproved"), GEN_AI])
    library_services.application_set_status(actor=security_admin, application=app_named("ChatGPT"),
                                            status="unapproved", reason="Trains on prompts.")
    decision = runtime.evaluate(hostname="chatgpt.com", user=employee, explain=True).decision
    assert decision.policy.id == first.pk
    assert [t.result for t in decision.trace] == ["matched", "skipped"]


@pytest.mark.django_db
def test_saving_a_policy_an_earlier_one_shadows_warns_and_names_it(client_for, security_admin, library):
    gateway.gateway_policy_create(actor=security_admin, name="Block unapproved", action="block",
                                  conditions=[status("unapproved")])
    client = client_for(security_admin)
    response = client.post("/shadow-ai/policies/new/", {
        "name": "Isolate unapproved AI", "action": "isolate", "enabled": "on", **condition_rows(
            {"type": "status", "operator": "in", "statuses": ["unapproved"]},
            {"type": "gen_ai", "gen_ai": "true"})}, follow=True)
    page = response.content.decode()
    assert "Gateway policy Isolate unapproved AI was saved, but it can never match" in page
    assert ('Isolate unapproved AI can never match: Block unapproved (at position 1) is evaluated first and '
            'decides every request Isolate unapproved AI would match.') in page
    # Moved above the broad policy, it matches again and the warning goes.
    shadowed = gateway.GatewayPolicy.objects.get(name="Isolate unapproved AI")
    gateway.gateway_policy_move(actor=security_admin, policy=shadowed, direction="up")
    assert 'data-testid="policy-shadowed"' not in client.get(f"/shadow-ai/policies/{shadowed.pk}/").content.decode()
    # A policy nothing shadows is saved with the usual message.
    fine = client.post("/shadow-ai/policies/new/", {
        "name": "Block in review", "action": "block", "enabled": "on", **condition_rows(
            {"type": "status", "operator": "in", "statuses": ["in_review"]})}, follow=True).content.decode()
    assert "Gateway policy Block in review was saved; the gateway applies it" in fine
    assert 'data-testid="policy-shadowed"' not in fine
