"""What follows a decision on an inspected request with a body. The web gateway hands each one
(``Inspected``: who, where, what the decision was, the inspected text, the prompt topics already
scored while deciding) to every registered sink; the prompt-protection app registers one that
queues it for a background writer, which reports jailbreak attempts to risk and stores the
prompt in the encrypted prompt log when the decision captures it. The evaluate API builds the
same ``Inspected`` (``of``) and stores it through the same service in its own request
(``shadow_ai.prompts.services.after_decision``), so both enforcers lead to the same records.

The gateway knows nothing of the prompt app: only this seam. A sink runs on the gateway's event
loop, so it must only queue (never touch the database) and must not raise into the request: one
that fails is logged and skipped."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shadow_ai.gateway import engine
from shadow_ai.prompts.topics import PromptTopics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inspected:
    """An inspected request with a body and a known person, after its decision. ``topics``: the
    body's prompt topics when deciding already scored them (a prompt-topic condition), else None
    (the sink scores them off the request path). ``capture``: the decision captures the prompt."""

    user_id: int
    email: str
    hostname: str
    app: engine.AppFacts | None
    url: str
    text: str
    action: str
    policy: engine.CompiledPolicy | None
    capture: bool
    topics: PromptTopics | None = None
    dlp_profiles: tuple[str, ...] = ()
    via: str = "gateway"
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)


def of(*, decision: engine.Decision, request: engine.GatewayRequest, user_id: int | None, email: str,
       via: str = "gateway") -> Inspected | None:
    """The ``Inspected`` of a decided request, or None when nothing follows: no body, nobody
    known, or a request the decision exempts from inspection."""
    if not request.body or user_id is None or not decision.inspected:
        return None
    dlp = tuple(hit.name for hit in decision.dlp.triggered) if decision.dlp else ()
    topics = decision.topics if decision.topics is not None else request.topics.found
    return Inspected(user_id=user_id, email=email, hostname=request.hostname, app=request.app, url=request.url,
                     text=request.body, action=decision.action.value, policy=decision.policy,
                     capture=decision.capture_prompts, topics=topics,
                     dlp_profiles=dlp, via=via)


Sink = Callable[[Inspected], None]
_sinks: list[Sink] = []
_lifecycle: dict[Sink, tuple[Callable[[], None] | None, Callable[[], None] | None]] = {}


def register(sink: Sink, *, start: Callable[[], None] | None = None, stop: Callable[[], None] | None = None) -> None:
    """Receive every inspected request with a body (call from an ``AppConfig.ready``). ``start``
    and ``stop``: what the gateway process calls when it starts and before it exits (a sink's
    writer thread; ``stop`` stores what is still queued)."""
    if sink not in _sinks:
        _sinks.append(sink)
    if start is not None or stop is not None or sink not in _lifecycle:
        _lifecycle[sink] = (start, stop)


def unregister(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)
    _lifecycle.pop(sink, None)


def start() -> None:
    """Start the sinks' writers (the gateway process, before it listens)."""
    for begin, _ in list(_lifecycle.values()):
        if begin is not None:
            begin()


def stop() -> None:
    """Stop the sinks' writers, each storing what it still holds (the gateway process, at exit)."""
    for _, end in list(_lifecycle.values()):
        if end is None:
            continue
        try:
            end()
        except Exception:
            log.exception("inspection sink writer %r failed to stop", end)


def hand_off(item: Inspected | None) -> int:
    """Give one inspected request to the sinks; returns how many took it."""
    if item is None:
        return 0
    taken = 0
    for sink in list(_sinks):
        try:
            sink(item)
            taken += 1
        except Exception:
            log.exception("inspection sink %r failed; the request goes on", sink)
    return taken
