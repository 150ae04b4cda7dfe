"""Third-party applications found through OAuth grants → the Shadow AI library.

Each sighting is recorded as a ``DiscoveredApp`` of its integration (the "discovered by CASB"
mark) and linked to the library application it is: by hostname first (the app's homepage and
redirect URLs, through the library's suffix map), then by name or alias. An AI application the
library does not know is added to it as a custom, Unreviewed generative AI application when its
hostnames are known (Microsoft 365 tells them; Google's token list does not), so Gateway
policies can act on it; otherwise it waits on the Discovered applications page for an admin."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone

from console.core.errors import ConsoleError
from shadow_ai import selectors as library
from shadow_ai import services as library_services
from shadow_ai.casb.connectors.base import AppSighting
from shadow_ai.casb.models import DiscoveredApp, Integration
from shadow_ai.models import Application

MAX_USERS = 500
UPDATED_FIELDS = ["name", "publisher", "hostnames", "scopes", "users", "user_count", "is_ai", "match", "application",
                  "last_seen_at", "last_seen_run", "resolved_at"]
_WORD = re.compile(r"[a-z0-9]+")
AI_WORDS = {"ai", "gpt", "chatgpt", "llm", "copilot", "chatbot", "claude", "gemini", "openai", "anthropic",
            "mistral", "perplexity", "genai", "gpts", "bard", "deepseek", "grok", "llama"}
AI_HOST_SUFFIXES = (".ai",)


def normalize(name: str) -> str:
    return "".join(_WORD.findall((name or "").lower()))


def looks_like_ai(name: str, hostnames: Iterable[str] = ()) -> bool:
    if set(_WORD.findall((name or "").lower())) & AI_WORDS:
        return True
    return any(h.endswith(AI_HOST_SUFFIXES) for h in hostnames)


def _names() -> dict[str, int]:
    found: dict[str, int] = {}
    for pk, name, aliases in Application.objects.values_list("pk", "name", "aliases"):
        found.setdefault(normalize(name), pk)
        for alias in (aliases or "").split(","):
            if alias.strip():
                found.setdefault(normalize(alias), pk)
    return found


def match(sighting: AppSighting, names: dict[str, int], matcher: Any = None) -> tuple[int | None, str]:
    matcher = matcher or library.hostname_matcher()
    for host in sighting.hostnames:
        facts = matcher.match(host)
        if facts is not None:
            return facts.id, "hostname"
    key = normalize(sighting.name)
    if key and key in names:
        return names[key], "name"
    return None, ""


def record(integration: Integration, sightings: Iterable[AppSighting], *, run_id: int | None,
           now: datetime | None = None) -> dict[str, int | None]:
    """Record one page's sightings (inside the page's transaction); returns external id → library
    application id for the page's finding instances."""
    now = now or timezone.now()
    grouped: dict[str, list[AppSighting]] = {}
    for sighting in sightings:
        grouped.setdefault(sighting.external_id, []).append(sighting)
    if not grouped:
        return {}
    existing = {d.external_id: d for d in DiscoveredApp.objects.select_for_update().filter(
        integration=integration, external_id__in=list(grouped))}
    names: dict[str, int] | None = None
    linked: dict[str, int | None] = {}
    snapshot = library.library_snapshot()
    added: list[DiscoveredApp] = []
    changed: list[DiscoveredApp] = []
    for external_id, group in grouped.items():
        first = group[0]
        app = existing.get(external_id) or DiscoveredApp(integration=integration, external_id=external_id,
                                                         first_seen_at=now)
        if app.last_seen_run != run_id:
            app.users, app.scopes = [], []
        users = set(app.users) | {s.user or "All users" for s in group}
        app.users = sorted(users)[:MAX_USERS]
        app.user_count = len(users)
        app.scopes = sorted(set(app.scopes) | {scope for s in group for scope in s.scopes})
        app.hostnames = sorted({h for s in group for h in s.hostnames} | set(app.hostnames))
        app.name, app.publisher = first.name[:255], (first.publisher or app.publisher)[:255]
        app.last_seen_at, app.last_seen_run, app.resolved_at = now, run_id, None
        if app.application_id is None:
            if names is None:
                names = _names()
            found, how = match(first, names, snapshot.matcher)
            if found is None and looks_like_ai(first.name, app.hostnames) and app.hostnames:
                found, how = _add_to_library(integration, app)
            app.application_id, app.match = found, how
        facts = snapshot.by_id.get(app.application_id) if app.application_id else None
        app.is_ai = looks_like_ai(app.name, app.hostnames) or bool(facts and facts.gen_ai)
        (changed if app.pk else added).append(app)
        linked[external_id] = app.application_id
    DiscoveredApp.objects.bulk_create(added)
    DiscoveredApp.objects.bulk_update(changed, UPDATED_FIELDS)
    return linked


def _add_to_library(integration: Integration, app: DiscoveredApp) -> tuple[int | None, str]:
    try:
        created = library_services.application_record_discovered(
            name=app.name, hostnames=app.hostnames, vendor=app.publisher,
            found_by=f"CASB integration {integration.name} ({integration.vendor_label})",
            description=f"Found through OAuth grants in {integration.vendor_label}.",
        )
    except ConsoleError:
        return None, ""  # a name or hostname clash: left for an admin on the Discovered applications page
    return created.pk, "created"
