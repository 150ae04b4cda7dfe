"""The web gateway's inspected requests reach the prompt log and risk: a real ``manage.py
gateway`` process with a policy capturing Claude prompts seals them to the organization's key,
and reports a jailbreak attempt it blocked. The sink that takes them on the event loop only
queues: a full queue drops and counts, it never waits."""

from __future__ import annotations

import json
import logging
import time

import pytest
import requests
from django.db import connection

from console.audit.models import AuditEvent
from console.core.batching import BatchWriter
from shadow_ai.gateway import engine, inspection
from shadow_ai.prompts import capture, sealing, services
from shadow_ai.prompts.models import PromptLogEntry
from shadow_ai.prompts.tests.test_prompt_protection import CLAUDE, JAILBREAK, SECRET_PROMPT, keypair

ENDPOINT = "https://claude.ai/api/organizations/o1/chat_conversations/c1/completion"
PLAN = "Summarise the quarterly plan for the Lisbon office in three bullets."


def _wait_for(query, count: int = 1) -> list:
    """The rows of ``query`` once ``count`` are there (the gateway's writer stores in batches)."""
    deadline = time.monotonic() + 30
    while True:
        found = list(query.all())  # a fresh query each time
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.gateway
def test_the_gateway_seals_captured_prompts_and_reports_jailbreaks(gateway_world, gateway_sites, gateway_process,
                                                                   super_admin, django_capture_on_commit_callbacks):
    from shadow_ai.gateway import services as gateway

    private, public = keypair()
    services.prompt_key_upload(actor=super_admin, name="2026-12 security team", public_key=public)
    with django_capture_on_commit_callbacks(execute=True):
        gateway.gateway_policy_create(
            actor=super_admin, name="No jailbreaks on Claude", action="block",
            block_message="This prompt tries to get around the assistant's rules.",
            conditions=[{"type": "application", "values": ["claude"]},
                        {"type": "prompt_topic", "values": ["intent_jailbreak"], "confidence": "medium"}])
        gateway.gateway_policy_create(actor=super_admin, name="Capture AI prompts", action="allow",
                                      conditions=[{"type": "gen_ai", "value": True}], capture_prompts=True)
    authority, site = gateway_sites
    proc = gateway_process(site.values(), authority)
    through = {"proxies": proc.proxy(gateway_world["token"]), "verify": gateway_world["ca"], "timeout": 30}

    # A clean prompt goes through and is captured, sealed to the key.
    allowed = requests.post(ENDPOINT, json={"prompt": PLAN}, **through)
    assert allowed.status_code == 200 and allowed.json() == {"site": "claude.ai", "ok": True}
    [entry] = _wait_for(PromptLogEntry.objects.all())
    ada = gateway_world["ada"]
    assert (entry.user_id, entry.email, entry.application_name, entry.action, entry.policy_name) == (
        ada.pk, "ada@corp.example", "Claude", "allow", "Capture AI prompts")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM prompts_promptlogentry")
        dump = repr(cursor.fetchall())
    for fragment in ("Lisbon office", "quarterly plan"):
        assert fragment not in dump and fragment.encode().hex() not in dump
    content = json.loads(sealing.open_sealed(bytes(entry.sealed), private, str(entry.uid)))
    assert PLAN in content["prompt"]

    # A jailbreak is blocked before it leaves; it is not captured, but risk hears of the attempt.
    blocked = requests.post(ENDPOINT, json={"prompt": JAILBREAK}, **through)
    assert blocked.status_code == 403
    assert blocked.json()["error"]["message"] == "This prompt tries to get around the assistant's rules."
    [attempt] = _wait_for(AuditEvent.objects.filter(action=services.JAILBREAK_ACTION))
    assert attempt.object_id == str(ada.pk)
    assert attempt.changes["application"] == "Claude" and attempt.changes["action"] == "block"
    assert attempt.changes["via"] == "gateway" and attempt.changes["confidence"] == "high"
    assert [r.body for r in site["claude.ai"].received if r.method == "POST"] == [
        json.dumps({"prompt": PLAN}).encode()]
    assert PromptLogEntry.objects.count() == 1


# --- The sink on the event loop ------------------------------------------------------------------


def _item(text: str = SECRET_PROMPT, *, user_id: int = 1, capture_: bool = True) -> inspection.Inspected:
    return inspection.Inspected(user_id=user_id, email="ada@corp.example", hostname="claude.ai", app=CLAUDE,
                                url="https://claude.ai/", text=text, action="allow", policy=None, capture=capture_)


@pytest.fixture
def small_writer(monkeypatch) -> BatchWriter:
    """The app's writer with room for two items (``limit[0]`` changes it), never started."""
    limit = [2]
    writer = BatchWriter("prompt log writer (test)", capture.store, flush_seconds=lambda: 3600.0,
                         max_pending=lambda: limit[0], batch=10)
    writer.limit = limit  # type: ignore[attr-defined]
    monkeypatch.setattr(capture, "writer", writer)
    return writer


def test_a_full_queue_drops_and_counts_without_waiting(small_writer, caplog) -> None:
    request = engine.GatewayRequest(hostname="claude.ai", app=CLAUDE, user=None, body=PLAN)
    decision = engine.Decision(engine.Action.ALLOW, "captured", capture_prompts=True)
    assert inspection.of(decision=decision, request=request, user_id=None, email="") is None  # nobody known
    item = inspection.of(decision=decision, request=request, user_id=7, email="ada@corp.example")
    assert item is not None and item.capture and item.topics is None  # nothing scored while deciding
    # No database in this test: a sink that touched it would fail here.
    with caplog.at_level(logging.ERROR, logger="console.core.batching"):
        taken = [inspection.hand_off(item) for _ in range(5)]
    assert taken == [1] * 5  # the app's sink took each: dropping is its business, not the request's
    assert small_writer.stats() == {"recorded": 2, "stored": 0, "dropped": 3, "failures": 0, "pending": 2}
    assert "prompt log writer (test) queue full (2 waiting): 1 dropped so far" in caplog.text


@pytest.mark.django_db
def test_the_writer_stores_a_batch_and_skips_what_cannot_be_stored(small_writer, super_admin, employee,
                                                                   monkeypatch) -> None:
    private, public = keypair()
    services.prompt_key_upload(actor=super_admin, name="k", public_key=public)
    small_writer.record(_item(JAILBREAK, user_id=employee.pk, capture_=False))
    small_writer.record(_item(user_id=employee.pk))
    assert small_writer.flush() == 2
    [entry] = PromptLogEntry.objects.all()
    assert entry.topics == {"content_credentials": "high"} and entry.user_id == employee.pk
    assert json.loads(sealing.open_sealed(bytes(entry.sealed), private, str(entry.uid)))["prompt"] == SECRET_PROMPT
    [attempt] = AuditEvent.objects.filter(action=services.JAILBREAK_ACTION)
    assert attempt.object_id == str(employee.pk) and attempt.changes["action"] == "allow"

    # A person deleted since is skipped; an item that fails is counted and skipped, the rest stored.
    real = services.prompt_log_record

    def broken(**kwargs):
        if kwargs["prompt"] == "poison":
            raise ValueError("a bug")
        return real(**kwargs)

    monkeypatch.setattr(services, "prompt_log_record", broken)
    small_writer.limit[0] = 10
    for item in (_item(user_id=10**9), _item("poison", user_id=employee.pk), _item(PLAN, user_id=employee.pk)):
        small_writer.record(item)
    assert small_writer.flush() == 3
    assert PromptLogEntry.objects.count() == 2 and small_writer.stats()["rejected"] == 1
