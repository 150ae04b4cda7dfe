"""Gateway policies as stored: writes and their audit rows, order, enabling, and the decisions
the runtime makes from them (people, groups, devices, risk)."""

from __future__ import annotations

import pytest

from accounts.tests.factories import GroupFactory
from console.access import facts
from console.access.models import Device
from console.audit.models import AuditEvent
from console.core.errors import Conflict, PermissionRefused, ValidationFailed
from shadow_ai import services as library_services
from shadow_ai.gateway import engine, runtime
from shadow_ai.gateway import services as gateway
from shadow_ai.models import GatewayPolicy

pytestmark = pytest.mark.django_db

UNAPPROVED_AI = [{"type": "status", "operator": "in", "values": ["unapproved"]}, {"type": "gen_ai", "value": True}]


@pytest.fixture
def reviewed(library, app_named, super_admin):
    from shadow_ai import services

    services.application_set_status(actor=super_admin, application=app_named("ChatGPT"), status="unapproved",
                                    reason="Trains on prompts.")
    services.application_set_status(actor=super_admin, application=app_named("Claude"), status="approved",
                                    reason="Enterprise agreement.")
    return {"chatgpt": app_named("ChatGPT"), "claude": app_named("Claude")}


def decide(email, hostname, device_id=""):
    return runtime.evaluate(hostname=hostname, email=email, device_id=device_id).decision


def test_create_validates_and_audits(reviewed, super_admin, employee):
    created = gateway.gateway_policy_create(actor=super_admin, name="Redirect unapproved AI to Claude",
                                            action="redirect", conditions=UNAPPROVED_AI, target=reviewed["claude"])
    assert created.position == 1 and created.enabled
    event = AuditEvent.objects.get(action="shadow_ai.gateway_policy.created")
    assert event.changes["target"] == {"old": None, "new": "Claude"}
    assert event.changes["conditions"]["new"] == UNAPPROVED_AI
    decision = decide(employee.email, "chatgpt.com")
    assert decision.action == engine.Action.REDIRECT and decision.redirect_to.name == "Claude"
    assert decide(employee.email, "claude.ai").action == engine.Action.ALLOW

    cases = [
        ({"action": "redirect", "target": None}, "needs the application to send people to", "target"),
        ({"action": "redirect", "target": reviewed["chatgpt"]}, "ChatGPT is Unapproved", "target"),
        ({"conditions": []}, "at least one condition", "conditions"),
        ({"conditions": [{"type": "application", "values": ["nope"]}]}, "condition 1 (application): nope is not",
         "conditions"),
        ({"conditions": [{"type": "group", "values": [999999]}]}, "unknown group id", "conditions"),
        ({"conditions": [{"type": "status", "values": ["maybe"]}]}, "condition 1 (status): unknown status",
         "conditions"),
        ({"action": "block", "capture_prompts": True}, "Allow or Isolate", "capture_prompts"),
        ({"action": "quarantine"}, "Unknown action", "action"),
        ({"name": "redirect UNAPPROVED ai to claude"}, "already exists", "name"),
        ({"name": " "}, "A name is required", "name"),
    ]
    for change, message, field in cases:
        data = {"name": "Another", "action": "block", "conditions": UNAPPROVED_AI, **change}
        with pytest.raises((ValidationFailed, Conflict)) as caught:
            gateway.gateway_policy_create(actor=super_admin, **data)
        assert message in caught.value.message and caught.value.field == field, change
    assert GatewayPolicy.objects.count() == 1


def test_only_admins_write_policies(reviewed, auditor):
    with pytest.raises(PermissionRefused):
        gateway.gateway_policy_create(actor=auditor, name="x", action="block", conditions=UNAPPROVED_AI)


def test_order_enable_disable_and_delete(reviewed, super_admin, employee):
    allow = gateway.gateway_policy_create(actor=super_admin, name="Allow AI", action="allow",
                                          conditions=[{"type": "gen_ai", "value": True}])
    block = gateway.gateway_policy_create(actor=super_admin, name="Block unapproved AI", action="block",
                                          conditions=UNAPPROVED_AI, block_message="Not approved.",
                                          target=reviewed["claude"])
    assert decide(employee.email, "chatgpt.com").policy.name == "Allow AI"

    assert gateway.gateway_policy_move(actor=super_admin, policy=block, direction="up")
    assert list(GatewayPolicy.objects.values_list("name", "position")) == [
        ("Block unapproved AI", 1), ("Allow AI", 2)]
    decision = decide(employee.email, "chatgpt.com")
    assert decision.action == engine.Action.BLOCK and decision.alternative.name == "Claude"
    assert not gateway.gateway_policy_move(actor=super_admin, policy=block, direction="up")  # already first
    event = AuditEvent.objects.get(action="shadow_ai.gateway_policy.reordered")
    assert event.changes["order"] == {"old": ["Allow AI", "Block unapproved AI"],
                                      "new": ["Block unapproved AI", "Allow AI"]}

    assert gateway.gateway_policy_set_enabled(actor=super_admin, policy=block, enabled=False)
    assert decide(employee.email, "chatgpt.com").policy.name == "Allow AI"  # disabled policies do not count
    assert AuditEvent.objects.filter(action="shadow_ai.gateway_policy.disabled").exists()
    assert not gateway.gateway_policy_set_enabled(actor=super_admin, policy=block, enabled=False)
    gateway.gateway_policy_set_enabled(actor=super_admin, policy=block, enabled=True)

    with pytest.raises(Conflict, match="reload"):
        gateway.gateway_policies_reorder(actor=super_admin, policy_ids=[block.pk])
    assert gateway.gateway_policies_reorder(actor=super_admin, policy_ids=[allow.pk, block.pk])
    assert decide(employee.email, "chatgpt.com").policy.name == "Allow AI"

    gateway.gateway_policy_delete(actor=super_admin, policy=allow)
    assert list(GatewayPolicy.objects.values_list("name", "position")) == [("Block unapproved AI", 1)]
    assert AuditEvent.objects.filter(action="shadow_ai.gateway_policy.deleted").exists()


def test_update_records_what_changed(reviewed, super_admin):
    policy = gateway.gateway_policy_create(actor=super_admin, name="Isolate AI", action="isolate",
                                           conditions=UNAPPROVED_AI, isolation={"upload": True})
    assert policy.isolation == {"upload": True, "download": False, "copy": False, "paste": False, "print": False}
    gateway.gateway_policy_update(actor=super_admin, policy=policy, name="Isolate AI", action="isolate",
                                  conditions=UNAPPROVED_AI, isolation={"upload": True, "copy": True})
    event = AuditEvent.objects.get(action="shadow_ai.gateway_policy.updated")
    assert event.changes == {"isolate_block_copy": {"old": False, "new": True}}
    gateway.gateway_policy_update(actor=super_admin, policy=policy, name="Isolate AI", action="isolate",
                                  conditions=UNAPPROVED_AI, isolation={"upload": True, "copy": True})
    assert AuditEvent.objects.filter(action="shadow_ai.gateway_policy.updated").count() == 1  # no change


def test_people_groups_devices_and_risk_reach_the_decision(reviewed, super_admin, employee, make_user):
    engineering = GroupFactory(name="Engineering")
    engineering.members.add(employee)
    contractor = make_user(email="contractor@corp.example")
    Device.objects.create(user=employee, device_id="laptop-1", name="Laptop", os="macOS", managed=True,
                          disk_encrypted=True, edr_score=90)
    Device.objects.create(user=contractor, device_id="laptop-2", name="Laptop", os="Windows", managed=False)
    gateway.gateway_policy_create(actor=super_admin, name="High risk: no AI", action="block",
                                  conditions=[{"type": "risk_score", "values": ["high"]},
                                              {"type": "gen_ai", "value": True}])
    gateway.gateway_policy_create(actor=super_admin, name="Engineers on managed devices", action="allow",
                                  conditions=[{"type": "group", "values": [engineering.pk]},
                                              {"type": "device_posture", "managed": True}],
                                  capture_prompts=True, capture_groups=[engineering.pk])
    gateway.gateway_policy_create(actor=super_admin, name="Everyone else: isolate AI", action="isolate",
                                  conditions=[{"type": "gen_ai", "value": True}], isolation={"upload": True})

    decision = decide(employee.email, "chatgpt.com", device_id="laptop-1")
    assert (decision.policy.name, decision.capture_prompts) == ("Engineers on managed devices", True)
    assert decide(employee.email, "chatgpt.com").policy.name == "Everyone else: isolate AI"  # no device
    # Someone else's device says nothing about this request.
    assert decide(contractor.email, "chatgpt.com", device_id="laptop-1").action == engine.Action.ISOLATE
    assert decide(contractor.email, "chatgpt.com", device_id="laptop-2").action == engine.Action.ISOLATE

    # The risk feature fills risk_level through a facts provider; until then everyone is unscored.
    provider = lambda user: {"risk_level": "high"} if user.email == employee.email else {}  # noqa: E731
    facts.register(provider)
    try:
        decision = decide(employee.email, "chatgpt.com", device_id="laptop-1")
        assert decision.action == engine.Action.BLOCK and decision.policy.name == "High risk: no AI"
        assert decide(employee.email, "slack.com", device_id="laptop-1").action == engine.Action.ALLOW
    finally:
        facts._providers.remove(provider)


def test_unknown_and_deactivated_people_are_blocked(reviewed, employee):
    decision = decide("ghost@corp.example", "slack.com")
    assert decision.action == engine.Action.BLOCK and "no active user has the e-mail ghost@corp.example" in \
        decision.reason
    employee.is_active = False
    employee.save(update_fields=["is_active"])
    assert decide(employee.email, "slack.com").action == engine.Action.BLOCK


def test_a_policy_that_no_longer_compiles_fails_closed(reviewed, super_admin):
    GatewayPolicy.objects.create(name="Hand-edited", position=1, action="block",
                                 conditions=[{"type": "status", "values": ["maybe"]}])
    with pytest.raises(engine.PolicyError):
        runtime.compiled_policies()


def test_changing_a_status_changes_decisions(reviewed, super_admin, employee, app_named):
    gateway.gateway_policy_create(actor=super_admin, name="Redirect unapproved AI to Claude", action="redirect",
                                  conditions=UNAPPROVED_AI, target=reviewed["claude"])
    assert decide(employee.email, "chat.deepseek.com").action == engine.Action.ALLOW  # unreviewed
    library_services.application_set_status(actor=super_admin, application=app_named("DeepSeek"),
                                            status="unapproved", reason="Data exposure.")
    assert decide(employee.email, "chat.deepseek.com").action == engine.Action.REDIRECT
    # The alternative itself loses its approval: the redirect turns into a block, never a wrong redirect.
    library_services.application_set_status(actor=super_admin, application=reviewed["claude"],
                                            status="in_review", reason="Renewal.")
    decision = decide(employee.email, "chat.deepseek.com")
    assert decision.action == engine.Action.BLOCK and "not Approved" in decision.reason
