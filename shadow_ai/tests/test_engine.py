"""The Gateway policy engine as a pure function: every condition, every action, order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from console.core.policy import DevicePosture
from shadow_ai.gateway import engine

CHATGPT = engine.AppFacts(1, "chatgpt", "ChatGPT", "artificial_intelligence", "unapproved", True,
                          Decimal("3.4"), Decimal("2.5"), "https://chatgpt.com/", "OpenAI")
CLAUDE = engine.AppFacts(2, "claude", "Claude", "artificial_intelligence", "approved", True,
                         Decimal("4.2"), Decimal("4.5"), "https://claude.ai/", "Anthropic")
SLACK = engine.AppFacts(3, "slack", "Slack", "instant_messaging", "approved", False, Decimal("4.8"), None,
                        "https://slack.com/", "Salesforce")
UNSCORED = engine.AppFacts(4, "custom-x", "X", "business", "unreviewed", False, None, None, "https://x.example/")
ADA = engine.UserFacts("ada@corp.example", frozenset({10}), "low")
BOB = engine.UserFacts("bob@partner.example", frozenset({20}), "high")
GOOD_DEVICE = DevicePosture("d1", managed=True, disk_encrypted=True, edr_score=90)
BAD_DEVICE = DevicePosture("d2", managed=False, disk_encrypted=True, edr_score=40)


def req(app=CHATGPT, user=ADA, device=None, hostname=None) -> engine.GatewayRequest:
    host = hostname or ({1: "chatgpt.com", 2: "claude.ai", 3: "slack.com", 4: "x.example"}[app.id] if app else
                        "example.org")
    return engine.GatewayRequest(hostname=host, app=app, user=user, device=device)


def holds(config, request) -> bool:
    return engine.compile_condition(config, categories={"artificial_intelligence": "Artificial Intelligence",
                                                        "business": "Business"}).test(request)


def policy(action="block", conditions=None, id=1, name="P", **extra) -> engine.CompiledPolicy:
    return engine.compile_policy(id=id, name=name, action=action,
                                 conditions=conditions or [{"type": "gen_ai", "value": True}], **extra)


@pytest.mark.parametrize(("config", "request_", "expected"), [
    ({"type": "application", "values": ["chatgpt", "poe"]}, req(), True),
    ({"type": "application", "values": ["claude"]}, req(), False),
    ({"type": "application", "operator": "not_in", "values": ["claude"]}, req(), True),
    ({"type": "application", "values": ["chatgpt"]}, req(app=None), False),
    ({"type": "application", "operator": "not_in", "values": ["chatgpt"]}, req(app=None), True),
    ({"type": "category", "values": ["artificial_intelligence"]}, req(), True),
    ({"type": "category", "values": ["business"]}, req(), False),
    ({"type": "category", "operator": "not_in", "values": ["business"]}, req(), True),
    ({"type": "status", "values": ["unapproved", "in_review"]}, req(), True),
    ({"type": "status", "values": ["approved"]}, req(), False),
    ({"type": "status", "values": ["in review"]}, req(app=UNSCORED), False),  # the reference's spelling
    ({"type": "status", "operator": "not_in", "values": ["approved"]}, req(), True),
    ({"type": "status", "values": ["unapproved"]}, req(app=None), False),
    ({"type": "gen_ai", "value": True}, req(), True),
    ({"type": "gen_ai", "value": False}, req(), False),
    ({"type": "gen_ai", "value": False}, req(app=SLACK), True),
    ({"type": "gen_ai", "value": False}, req(app=None), False),
    ({"type": "saas_score", "comparison": "lt", "value": 3.5}, req(), True),
    ({"type": "saas_score", "comparison": "lt", "value": 3.4}, req(), False),
    ({"type": "saas_score", "comparison": "lte", "value": 3.4}, req(), True),
    ({"type": "saas_score", "comparison": "gte", "value": 4}, req(app=SLACK), True),
    ({"type": "saas_score", "comparison": "gt", "value": 4.8}, req(app=SLACK), False),
    ({"type": "saas_score", "comparison": "lt", "value": 3}, req(app=UNSCORED), False),
    ({"type": "saas_score", "comparison": "lt", "value": 3, "match_unscored": True}, req(app=UNSCORED), True),
    ({"type": "genai_score", "comparison": "lt", "value": 3}, req(), True),
    ({"type": "genai_score", "comparison": "lt", "value": 3}, req(app=CLAUDE), False),
    ({"type": "genai_score", "comparison": "lt", "value": 3}, req(app=SLACK), False),
    ({"type": "hostname", "values": ["chatgpt.com"]}, req(hostname="cdn.chatgpt.com"), True),
    ({"type": "hostname", "values": ["chatgpt.com"]}, req(hostname="notchatgpt.com"), False),
    ({"type": "hostname", "operator": "not_in", "values": ["chatgpt.com"]}, req(hostname="claude.ai"), True),
    ({"type": "user_email", "values": ["ada@corp.example"]}, req(), True),
    ({"type": "user_email", "values": ["@corp.example"]}, req(), True),
    ({"type": "user_email", "values": ["@corp.example"]}, req(user=BOB), False),
    ({"type": "user_email", "operator": "not_in", "values": ["@corp.example"]}, req(user=BOB), True),
    ({"type": "group", "values": [10, 11]}, req(), True),
    ({"type": "group", "values": [20]}, req(), False),
    ({"type": "group", "operator": "not_in", "values": [20]}, req(), True),
    ({"type": "risk_score", "values": ["high"]}, req(user=BOB), True),
    ({"type": "risk_score", "values": ["high", "medium"]}, req(), False),
    ({"type": "risk_score", "values": ["unscored"]}, req(user=engine.UserFacts("c@corp.example")), True),
    ({"type": "device_posture", "managed": True, "min_edr_score": 80}, req(device=GOOD_DEVICE), True),
    ({"type": "device_posture", "managed": True}, req(device=BAD_DEVICE), False),
    ({"type": "device_posture", "managed": True}, req(device=None), False),
    ({"type": "device_posture", "result": "fails", "managed": True}, req(device=None), True),
    ({"type": "device_posture", "result": "fails", "min_edr_score": 50}, req(device=GOOD_DEVICE), False),
])
def test_each_condition(config, request_, expected):
    assert holds(config, request_) is expected


@pytest.mark.parametrize(("config", "message"), [
    ({"type": "colour", "values": ["red"]}, "unknown condition type 'colour'"),
    ({"type": "application", "values": []}, "non-empty list"),
    ({"type": "application", "operator": "like", "values": ["x"]}, "operator must be in or not_in"),
    ({"type": "category", "values": ["toys"]}, "unknown category toys"),
    ({"type": "status", "values": ["sanctioned"]}, "unknown status sanctioned"),
    ({"type": "saas_score", "comparison": "eq", "value": 3}, "comparison must be"),
    ({"type": "saas_score", "comparison": "lt", "value": 7}, "from 0 to 5"),
    ({"type": "saas_score", "comparison": "lt", "value": "NaN"}, "from 0 to 5"),
    ({"type": "gen_ai", "value": "yes"}, "true or false"),
    ({"type": "user_email", "values": ["ada"]}, "not an e-mail address"),
    ({"type": "group", "values": ["eng"]}, "not a group id"),
    ({"type": "risk_score", "values": ["extreme"]}, "unknown risk level"),
    ({"type": "device_posture"}, "at least one device check"),
    ({"type": "device_posture", "min_edr_score": 101}, "0 to 100"),
    ({"type": "hostname", "values": ["*.x.example"]}, "without *."),
])
def test_bad_conditions_say_what_is_wrong(config, message):
    with pytest.raises(engine.ConditionError, match=None) as caught:
        engine.compile_condition(config, categories={"business": "Business"})
    assert message in str(caught.value)


def test_policies_need_a_condition_and_sensible_settings():
    with pytest.raises(engine.PolicyError, match="at least one condition"):
        engine.compile_policy(id=1, name="x", action="block", conditions=[])
    with pytest.raises(engine.PolicyError, match="condition 2 \\(status\\)"):
        engine.compile_policy(id=1, name="x", action="block",
                              conditions=[{"type": "gen_ai", "value": True}, {"type": "status", "values": ["x"]}])
    with pytest.raises(engine.PolicyError, match="needs the application to send people to"):
        engine.compile_policy(id=1, name="x", action="redirect", conditions=[{"type": "gen_ai", "value": True}])
    with pytest.raises(engine.PolicyError, match="Allow or Isolate"):
        engine.compile_policy(id=1, name="x", action="do_not_inspect", capture_prompts=True,
                              conditions=[{"type": "gen_ai", "value": True}])
    with pytest.raises(engine.PolicyError, match="unknown action"):
        engine.compile_policy(id=1, name="x", action="quarantine", conditions=[{"type": "gen_ai", "value": True}])


def test_nothing_matching_allows():
    decision = engine.evaluate([policy(conditions=[{"type": "application", "values": ["poe"]}])], req())
    assert decision.action == engine.Action.ALLOW and decision.policy is None
    assert decision.reason == "No policy matched: the gateway allows by default."


def test_the_first_matching_policy_decides():
    first = policy("allow", [{"type": "group", "values": [10]}], id=1, name="Engineers may")
    second = policy("block", [{"type": "gen_ai", "value": True}], id=2, name="No AI")
    assert engine.evaluate([first, second], req()).policy.name == "Engineers may"
    assert engine.evaluate([first, second], req(user=BOB)).policy.name == "No AI"
    assert engine.evaluate([second, first], req()).policy.name == "No AI"


def test_do_not_inspect_is_evaluated_first():
    block = policy("block", id=1, name="Block AI")
    dni = policy("do_not_inspect", [{"type": "hostname", "values": ["chatgpt.com"]}], id=2, name="Pinned app")
    ordered = engine.evaluation_order([block, dni])
    assert [p.name for p in ordered] == ["Pinned app", "Block AI"]
    decision = engine.evaluate(ordered, req())
    assert decision.action == engine.Action.DO_NOT_INSPECT and not decision.inspected
    assert "no logging, DLP or prompt capture" in decision.reason


def test_block_says_why_and_suggests_the_approved_alternative():
    decision = engine.evaluate([policy("block", target=CLAUDE, block_message="Unapproved AI tool.",
                                       name="No unapproved AI")], req())
    assert decision.action == engine.Action.BLOCK and decision.alternative == CLAUDE
    assert decision.reason == "Policy No unapproved AI blocks ChatGPT: Unapproved AI tool. Use Claude instead."
    no_longer = engine.AppFacts(**{**CLAUDE.__dict__, "status": "in_review"})
    decision = engine.evaluate([policy("block", target=no_longer, name="B")], req())
    assert decision.alternative is None and decision.reason == "Policy B blocks ChatGPT."


def test_redirect_goes_to_the_approved_alternative_and_fails_closed_otherwise():
    redirect = policy("redirect", [{"type": "status", "values": ["unapproved"]}, {"type": "gen_ai", "value": True}],
                      target=CLAUDE, name="Unapproved AI to Claude")
    decision = engine.evaluate([redirect], req())
    assert decision.action == engine.Action.REDIRECT and decision.redirect_to.url == "https://claude.ai/"
    assert decision.reason == "Policy Unapproved AI to Claude redirects ChatGPT to Claude, the approved alternative."
    # Not for the target itself (no loop), even when the conditions would hold.
    everything = policy("redirect", [{"type": "gen_ai", "value": True}], target=CLAUDE, name="All AI to Claude")
    assert engine.evaluate([everything], req(app=CLAUDE)).action == engine.Action.ALLOW
    trace = engine.explain([everything], req(app=CLAUDE)).trace[0]
    assert trace.result == "not matched" and "redirect target" in trace.note
    # The target lost its approval: block, and say so.
    revoked = engine.AppFacts(**{**CLAUDE.__dict__, "status": "unapproved"})
    decision = engine.evaluate([policy("redirect", target=revoked, name="R")], req())
    assert decision.action == engine.Action.BLOCK and "which is not Approved" in decision.reason
    gone = policy("redirect", name="R2", target=None, require_target=False)
    assert engine.evaluate([gone], req()).action == engine.Action.BLOCK


def test_isolate_carries_its_controls_and_capture_follows_groups():
    isolate = policy("isolate", isolation={"upload": True, "copy": True, "paste": False}, capture_prompts=True,
                     capture_groups=[10], name="Isolate AI")
    decision = engine.evaluate([isolate], req())
    assert decision.action == engine.Action.ISOLATE and decision.capture_prompts
    assert decision.isolation.as_dict() == {"upload": True, "download": False, "copy": True, "paste": False,
                                            "print": False}
    assert "upload, copy blocked" in decision.reason
    assert not engine.evaluate([isolate], req(user=BOB)).capture_prompts  # not in group 10
    allow_all = policy("allow", capture_prompts=True, name="Log prompts")
    assert engine.evaluate([allow_all], req(user=BOB)).capture_prompts
    assert engine.evaluate([policy("allow", name="Plain")], req()).capture_prompts is False


def test_explain_matches_evaluate_and_shows_every_condition():
    policies = engine.evaluation_order([
        policy("block", [{"type": "risk_score", "values": ["high"]}, {"type": "gen_ai", "value": True}], id=1,
               name="Risky"),
        policy("redirect", [{"type": "status", "values": ["unapproved"]}], id=2, name="Redirect", target=CLAUDE),
        policy("allow", [{"type": "gen_ai", "value": True}], id=3, name="Allow AI"),
    ])
    for request in (req(), req(user=BOB), req(app=CLAUDE), req(app=None)):
        fast, slow = engine.evaluate(policies, request), engine.explain(policies, request)
        assert (fast.action, fast.policy, fast.reason) == (slow.action, slow.policy, slow.reason)
    trace = engine.explain(policies, req()).trace
    assert [(t.name, t.result) for t in trace] == [("Risky", "not matched"), ("Redirect", "matched"),
                                                   ("Allow AI", "skipped")]
    assert [(c.label, c.matched) for c in trace[0].rules] == [
        ("User risk score is high", False), ("Generative AI application", True)]


# The one rule both engines share (console.core.policy.edr_threshold): a string of digits is the
# number it spells; anything else that is not a whole number from 0 to 100 is refused.
@pytest.mark.parametrize(("device", "passes"), [(GOOD_DEVICE, True), (BAD_DEVICE, False), (None, False)])
def test_edr_score_given_as_digits_is_read_as_a_number(device, passes):
    condition = engine.compile_condition({"type": "device_posture", "min_edr_score": "85"})
    assert condition.label == "Device passes posture: EDR score ≥ 85"
    assert condition.test(req(device=device)) is passes


@pytest.mark.parametrize("bad", ["high", "85.5", 85.5, True, "-1", "101", [85]])
def test_edr_score_that_is_not_a_whole_number_is_refused(bad):
    with pytest.raises(engine.PolicyError, match="min_edr_score must be a whole number from 0 to 100"):
        policy(conditions=[{"type": "device_posture", "min_edr_score": bad}])
