"""Where captured prompts go. A Gateway HTTP policy that captures prompts (Allow or Isolate with
"capture prompts") hands the inspected request text, once per request, to every registered sink:
the encrypted prompt log registers one. The gateway and the evaluate API share this seam, so a
sink sees the same thing whichever enforced the policy. A sink must be quick and must not raise
into the request: one that fails is logged and skipped."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from shadow_ai.gateway import engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CapturedPrompt:
    user_id: int
    email: str
    app: engine.AppFacts | None
    url: str
    text: str
    dlp_profiles: tuple[str, ...]


Sink = Callable[[CapturedPrompt], None]
_sinks: list[Sink] = []


def register(sink: Sink) -> None:
    """Receive every captured prompt (call from an ``AppConfig.ready``)."""
    if sink not in _sinks:
        _sinks.append(sink)


def unregister(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


def capture(*, user_id: int, email: str, app: engine.AppFacts | None, url: str, text: str,
            dlp_profiles: tuple[str, ...] = ()) -> int:
    """Hand one captured prompt to the sinks; returns how many took it. Nothing to capture (an
    empty body) reaches nobody."""
    if not text:
        return 0
    prompt = CapturedPrompt(user_id, email, app, url, text, dlp_profiles)
    taken = 0
    for sink in list(_sinks):
        try:
            sink(prompt)
            taken += 1
        except Exception:
            log.exception("prompt sink %r failed; the request goes on", sink)
    return taken
