"""Writes of AI prompt protection: the organization's prompt-log keys, captured prompts sealed to
the active key, jailbreak attempts reported to risk, and retention.

What follows a gateway decision on a request with a body is ``inspected_request_record``: the
evaluate API calls it in its request (``after_decision``), the web gateway through the sink its
writer thread drains (``capture``); a gateway that also has the model's response may call
``prompt_log_record`` directly."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from console.audit.models import AuditEvent
from console.audit.services import audit_record
from console.core.errors import ValidationFailed
from console.core.permissions import require_role
from console.core.roles import ADMINS
from risk.services import detection as risk_detection
from shadow_ai.dlp import engine as dlp_engine
from shadow_ai.gateway import engine, inspection
from shadow_ai.prompts import sealing
from shadow_ai.prompts.models import PromptLogEntry, PromptLogKey
from shadow_ai.prompts.topics import MEDIUM, PromptTopics, score_prompt, score_response

log = logging.getLogger(__name__)

JAILBREAK_ACTION = "shadow_ai.prompt.jailbreak_attempt"
JAILBREAK_HISTORY = timedelta(hours=24)  # the longest window the risk behaviour counts over
MAX_LOGGED_CHARS = 200_000  # per prompt or response, before sealing
MAX_DLP_MATCHES = 25
_ALL_ENTRIES = dlp_engine.Profile(id="prompt-log", name="Predefined entries",
                                  entries=dlp_engine.PREDEFINED_ENTRIES)


# --- Keys ---------------------------------------------------------------------------------------


def prompt_key_upload(*, actor: User, name: str, public_key: str) -> PromptLogKey:
    """Make ``public_key`` the key new prompt-log entries are sealed to. The previous key is
    retired, not deleted: its entries still open with its private key."""
    require_role(actor, ADMINS, "change the prompt-log key")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the key a name (e.g. the date it was made).", field="name")
    try:
        raw = sealing.parse_public_key(public_key)
    except sealing.KeyError_ as exc:
        raise ValidationFailed(str(exc), field="public_key") from None
    fingerprint = sealing.fingerprint(raw)
    with transaction.atomic():
        if PromptLogKey.objects.filter(fingerprint=fingerprint).exists():
            raise ValidationFailed("This key was uploaded before. Generate a new key pair to rotate.",
                                   field="public_key")
        previous = list(PromptLogKey.objects.select_for_update().filter(active=True))
        now = timezone.now()
        PromptLogKey.objects.filter(pk__in=[k.pk for k in previous]).update(active=False, retired_at=now)
        key = PromptLogKey.objects.create(name=name[:120], public_key=raw, fingerprint=fingerprint,
                                          created_by_email=actor.email, created_at=now)
        audit_record(actor=actor, action="shadow_ai.prompt_log.key_rotated" if previous
                     else "shadow_ai.prompt_log.key_uploaded", obj=key,
                     changes={"fingerprint": fingerprint, "suite": sealing.SUITE_NAME,
                              "retired": [k.fingerprint for k in previous]})
    return key


# --- Recording ----------------------------------------------------------------------------------


def _dlp_matches(text: str, where: str) -> list[dict[str, Any]]:
    """The predefined entries' matches, redacted, each with at most 75 bytes of redacted context."""
    if not text:
        return []
    result = dlp_engine.scan(text, [_ALL_ENTRIES], max_reported=MAX_DLP_MATCHES)[0]
    return [{"in": where, "entry": m.entry_name, "confidence": m.confidence.value, "redacted": m.redacted,
             "before": m.before, "after": m.after} for m in result.matches]


def _sealed_content(*, prompt: str, response: str, topics: PromptTopics, response_topics: PromptTopics,
                    matches: list[dict[str, Any]]) -> bytes:
    return json.dumps({
        "version": 1,
        "prompt": prompt[:MAX_LOGGED_CHARS],
        "response": response[:MAX_LOGGED_CHARS],
        "truncated": len(prompt) > MAX_LOGGED_CHARS or len(response) > MAX_LOGGED_CHARS,
        "topics": topics.as_dict(),
        "response_topics": response_topics.as_dict(),
        "dlp_matches": matches,
    }, ensure_ascii=False).encode("utf-8")


def prompt_log_record(
    *, email: str, hostname: str, action: str, prompt: str, response: str = "", user: User | None = None,
    app: engine.AppFacts | None = None, policy: engine.CompiledPolicy | None = None, conversation_id: str = "",
    topics: PromptTopics | None = None, at: Any = None,
) -> PromptLogEntry | None:
    """Store one captured prompt (and the model's response, when the caller has it), sealed to the
    active prompt-log key. None when no key was uploaded: nothing can be stored that only the
    organization could read, so nothing is stored (and a warning is logged)."""
    key = PromptLogKey.objects.filter(active=True).first()
    if key is None:
        log.warning("prompt capture is on but no prompt-log public key was uploaded: prompt not stored")
        return None
    topics = topics if topics is not None else score_prompt(prompt)
    response_topics = score_response(response)
    matches = _dlp_matches(prompt, "prompt") + _dlp_matches(response, "response")
    entry = PromptLogEntry(
        at=at or timezone.now(), user=user, email=email[:254], hostname=hostname[:253],
        application_key=app.key if app else "", application_name=app.name if app else "", action=action,
        policy_id=policy.id if policy else None, policy_name=policy.name[:200] if policy else "",
        conversation_id=conversation_id[:200], topics=topics.summary(), response_topics=response_topics.summary(),
        dlp_match_count=len(matches), key=key,
    )
    entry.sealed = sealing.seal(_sealed_content(prompt=prompt, response=response, topics=topics,
                                                response_topics=response_topics, matches=matches),
                                bytes(key.public_key), str(entry.uid))
    entry.save()
    return entry


def _earlier_attempts(user: User, now: Any) -> list[str]:
    rows = (AuditEvent.objects.filter(action=JAILBREAK_ACTION, object_type="accounts.user", object_id=str(user.pk),
                                      at__gte=now - JAILBREAK_HISTORY, at__lte=now)
            .order_by("-at").values_list("at", flat=True)[:100])
    return [at.isoformat() for at in rows]


def jailbreak_attempt_record(*, user: User, topics: PromptTopics, hostname: str, action: str,
                             app: engine.AppFacts | None = None, via: str = "gateway") -> AuditEvent | None:
    """Report a prompt carrying Jailbreak and prompt injection at Medium or more to risk (through
    the audit trail, as the MFA and identity signals are). The event lists the person's earlier
    attempts of the last 24 hours, so the risk behaviour can count them without reading any
    table (behaviours are pure)."""
    hit = topics.by_key.get("intent_jailbreak")
    if hit is None or hit.confidence.rank < MEDIUM.rank:
        return None
    now = timezone.now()
    event = audit_record(actor=None, action=JAILBREAK_ACTION, obj=user, object_repr=user.email, changes={
        "confidence": hit.confidence.value, "application": app.name if app else hostname, "action": action,
        "via": via, "earlier": _earlier_attempts(user, now),
    })
    transaction.on_commit(lambda: _queue_signal(event.pk))
    return event


def _queue_signal(audit_id: int) -> None:
    # Imported here: tasks imports this module.
    from shadow_ai.prompts.tasks import jailbreak_signal

    try:
        jailbreak_signal.delay(audit_id)
    except Exception:  # a prompt must not fail because the broker is unreachable
        log.exception("could not queue risk detection for jailbreak attempt %s", audit_id)


def jailbreak_signal_detect(audit_id: int) -> None:
    """Risk detection and scoring for one jailbreak-attempt audit event (the worker's job)."""
    if AuditEvent.objects.filter(pk=audit_id, action=JAILBREAK_ACTION).exists():
        risk_detection.detect_and_score("audit", [audit_id])


def inspected_request_record(*, item: inspection.Inspected, user: User | None = None) -> PromptLogEntry | None:
    """What follows a decision on an inspected request with a body, whichever enforcer made it:
    a jailbreak attempt reported to risk, and the prompt stored when the decision captures it
    (sealed; None otherwise, or without a key). The topics are the ones deciding scored, or
    scored here. ``user``: the person, when the caller has them loaded (else read by id; a
    person deleted since is skipped)."""
    if user is None:
        user = User.objects.filter(pk=item.user_id).first()
        if user is None:
            return None
    topics = item.topics if item.topics is not None else score_prompt(item.text)
    with transaction.atomic():
        jailbreak_attempt_record(user=user, topics=topics, hostname=item.hostname, action=item.action,
                                 app=item.app, via=item.via)
        if not item.capture:
            return None
        return prompt_log_record(email=item.email or user.email, user=user, hostname=item.hostname,
                                 action=item.action, prompt=item.text, app=item.app, policy=item.policy,
                                 topics=topics, at=item.at)


def after_decision(outcome: Any, *, token: Any = None) -> tuple[engine.Decision, PromptLogEntry | None]:
    """The evaluate API's follow-up of a decision on a request with a body: its prompt topics
    (on the decision, for the answer), then ``inspected_request_record`` in this request.
    ``outcome`` is a ``runtime.Evaluation``."""
    request, decision, user = outcome.request, outcome.decision, outcome.user
    if not request.body:
        return decision, None
    topics = request.topics.of(request.body)
    if decision.topics is None:
        decision = replace(decision, topics=topics)
    via = f"API token {token.name}" if token is not None else "gateway"
    item = inspection.of(decision=decision, request=request, user_id=user.pk if user is not None else None,
                         email=user.email if user is not None else "", via=via)
    if item is None:
        return decision, None
    return decision, inspected_request_record(item=item, user=user)


# --- Reading, retention -------------------------------------------------------------------------


def prompt_log_export(*, actor: User, entries: list[PromptLogEntry]) -> dict[str, Any]:
    """The sealed entries as JSON for the offline decryption tool (``python -m
    shadow_ai.prompts.offline decrypt``); audited, since what it holds is what the log holds."""
    require_role(actor, ADMINS, "export the prompt log")
    audit_record(actor=actor, action="shadow_ai.prompt_log.exported", object_type="prompts.promptlogentry",
                 object_repr=f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}",
                 changes={"entries": [str(e.uid) for e in entries][:1000]})
    return {"format": "zero-trust-console prompt log v1", "suite": sealing.SUITE_NAME, "entries": [
        {"uid": str(e.uid), "at": e.at.isoformat(), "email": e.email, "application": e.application_name or e.hostname,
         "action": e.action, "topics": e.topics, "key_fingerprint": e.key.fingerprint,
         "sealed": bytes(e.sealed).hex()}
        for e in entries
    ]}


def prompt_log_viewed(*, actor: User, entry: PromptLogEntry) -> None:
    """Record that ``actor`` decrypted ``entry`` (in their browser, where the console cannot see it)."""
    require_role(actor, ADMINS, "decrypt the prompt log")
    audit_record(actor=actor, action="shadow_ai.prompt_log.decrypted", obj=entry,
                 changes={"uid": str(entry.uid), "email": entry.email})


def prompt_log_prune(*, now: Any = None) -> int:
    """Delete entries older than ``PROMPT_LOG_RETENTION_DAYS``; the count deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.PROMPT_LOG_RETENTION_DAYS)
    deleted, _ = PromptLogEntry.objects.filter(at__lt=cutoff).delete()
    if deleted:
        audit_record(actor=None, action="shadow_ai.prompt_log.pruned", object_type="prompts.promptlogentry",
                     object_repr=f"{deleted} entries", changes={"before": cutoff.isoformat(), "deleted": deleted})
    return deleted
