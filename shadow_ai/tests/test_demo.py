"""The demo organization's Shadow AI setup: loaded by seed_demo, idempotent, and working."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from shadow_ai.gateway import engine, runtime
from shadow_ai.models import Application, ApplicationHostname, GatewayPolicy

pytestmark = pytest.mark.django_db


def state() -> tuple:
    return (
        list(Application.objects.order_by("key").values_list("key", "status", "status_reason", "saas_score")),
        list(ApplicationHostname.objects.order_by("hostname").values_list("hostname", "application__key")),
        list(GatewayPolicy.objects.order_by("position").values_list("name", "position", "action", "conditions",
                                                                    "target__key", "capture_groups")),
    )


def test_seed_demo_loads_the_library_statuses_and_policies_idempotently(capsys):
    call_command("seed_demo", "--users", "40")
    out = capsys.readouterr().out
    assert "Shadow AI:" in out and "4 Gateway policies" in out
    first = state()
    assert Application.objects.count() >= 150
    assert Application.objects.get(key="claude").status == "approved"
    assert Application.objects.get(key="chatgpt").status == "unapproved"
    from shadow_ai.usage.models import UsageAppDay, UsageHostDay

    usage = list(UsageAppDay.objects.order_by("day", "application_id").values_list("day", "application_id",
                                                                                   "requests", "users"))
    assert usage and UsageHostDay.objects.filter(host="intranet.acme.example").exists()
    assert "new Gateway log rows for the usage dashboards" in out
    call_command("seed_demo", "--users", "40")
    assert "; 0 new Gateway log rows" in capsys.readouterr().out
    assert state() == first
    assert list(UsageAppDay.objects.order_by("day", "application_id").values_list(
        "day", "application_id", "requests", "users")) == usage

    policies = runtime.compiled_policies()  # every demo policy compiles
    assert [p.name for p in policies][:2] == ["Block AI for high-risk users", "Redirect unapproved AI to Claude"]
    decision = runtime.evaluate(hostname="chatgpt.com", email="employee@acme.example").decision
    assert decision.action == engine.Action.REDIRECT and decision.redirect_to.key == "claude"
    assert runtime.evaluate(hostname="www.perplexity.ai", email="employee@acme.example"
                            ).decision.action == engine.Action.ISOLATE
    engineer = GatewayPolicy.objects.get(name="Capture Engineering prompts to approved AI").capture_groups
    assert engineer  # resolved to the demo's Engineering group
