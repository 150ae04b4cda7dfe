"""The registry of CASB connectors, and how a connector gets its context (HTTP client with the
integration's credentials, its settings and the scan's thresholds)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from django.conf import settings

from shadow_ai.casb.connectors.anthropic import AnthropicConnector
from shadow_ai.casb.connectors.base import Connector, Context, DlpCheck
from shadow_ai.casb.connectors.gemini import GeminiConnector
from shadow_ai.casb.connectors.github import GitHubConnector
from shadow_ai.casb.connectors.google_workspace import GoogleWorkspaceConnector
from shadow_ai.casb.connectors.http import VendorHTTP
from shadow_ai.casb.connectors.microsoft_365 import Microsoft365Connector
from shadow_ai.casb.connectors.openai import OpenAIConnector

CONNECTORS: dict[str, Connector] = {
    c.key: c for c in (GoogleWorkspaceConnector(), Microsoft365Connector(), GitHubConnector(), OpenAIConnector(),
                       AnthropicConnector(), GeminiConnector())
}


def get(key: str) -> Connector:
    try:
        return CONNECTORS[key]
    except KeyError:
        raise ValueError(f"Unknown CASB connector {key!r}") from None


def choices() -> list[tuple[str, str]]:
    return [(c.key, c.label) for c in CONNECTORS.values()]


def thresholds() -> dict[str, int]:
    """The ages that turn facts into findings, from settings (docs/configuration.md)."""
    return {
        "rotation_days": settings.CASB_KEY_ROTATION_DAYS,
        "unused_days": settings.CASB_UNUSED_DAYS,
        "inactive_days": settings.CASB_INACTIVE_DAYS,
        "stale_invite_days": settings.CASB_STALE_INVITE_DAYS,
        "stale_repository_days": settings.CASB_STALE_REPOSITORY_DAYS,
        "password_age_days": settings.CASB_PASSWORD_AGE_DAYS,
        "sync_age_days": settings.CASB_SYNC_AGE_DAYS,
    }


def context_for(
    connector: Connector, *, credentials: Mapping[str, str], config: Mapping[str, Any], base_url: str = "",
    now: datetime | None = None, state: dict[str, Any] | None = None,
    on_wait: Callable[[float], None] | None = None, sleep: Callable[[float], None] | None = None,
    max_retries: int | None = None, max_wait: float | None = None, timeout: float | None = None,
    dlp: DlpCheck | None = None,
) -> Context:
    """A ready context: ``base_url`` replaces the vendor's hosts only where settings allow it
    (never in production). Token-based connectors fetch their token on the first request."""
    override = base_url if (base_url and settings.CASB_ALLOW_BASE_URL_OVERRIDE) else ""
    options = connector.http_options(credentials, config)
    http = VendorHTTP(
        vendor=connector.label, hosts=connector.hosts, override=override,
        timeout=settings.CASB_HTTP_TIMEOUT if timeout is None else timeout,
        max_retries=settings.CASB_HTTP_MAX_RETRIES if max_retries is None else max_retries,
        max_wait=settings.CASB_HTTP_MAX_WAIT_SECONDS if max_wait is None else max_wait,
        on_wait=on_wait, **({"sleep": sleep} if sleep else {}), **options,
    )
    ctx = Context(http=http, credentials=dict(credentials), config=dict(config), state=state if state is not None
                  else {}, thresholds=thresholds(), dlp=dlp)
    if now is not None:
        ctx.now = now
    connector.prepare(ctx)
    return ctx
