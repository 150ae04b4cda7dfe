"""Reads of the application library. ``get_*_for`` helpers apply the role check.

``application_for_hostname`` and ``hostname_matcher`` are the fast path other features use (the
Gateway evaluate API on every request, log ingest on every row): the library is read once per
version of the decision caches into a suffix map (``shadow_ai.hostnames.HostnameMatcher``) of
``AppFacts``, and every write to the library bumps that version after commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import BooleanField, Case, Count, F, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from console.access import hotcache
from console.core.permissions import get_for_role
from console.core.roles import CONSOLE_READERS
from shadow_ai import hostnames, scoring
from shadow_ai.gateway.engine import AppFacts
from shadow_ai.models import Application, ApplicationHostname, EvidenceOverride, GatewayPolicy

CACHE_TABLE = "shadow_ai.library"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # never seen sorts as the oldest


def _get(model, viewer: User, pk: int):
    return get_for_role(model._default_manager.all(), viewer, pk, model._meta.verbose_name, CONSOLE_READERS)


def get_application_for(viewer: User, pk: int) -> Application:
    return _get(Application, viewer, pk)


def get_gateway_policy_for(viewer: User, pk: int) -> GatewayPolicy:
    return _get(GatewayPolicy, viewer, pk)


def library_empty() -> bool:
    return not Application.objects.exists()


def application_names() -> QuerySet:
    """Every application's name, in order (suggestions for a policy's target)."""
    return Application.objects.order_by("name").values_list("name", flat=True)


def applications_matching(text: str) -> QuerySet:
    """Primary keys of the applications whose name, vendor, aliases or a hostname contain ``text``."""
    return Application.objects.filter(
        Q(name__icontains=text) | Q(vendor__icontains=text) | Q(aliases__icontains=text)
        | Q(hostnames__hostname__icontains=text.lower())
    ).values("pk")


def new_since() -> datetime:
    """Applications first used through the gateway after this moment are newly seen."""
    return timezone.now() - timedelta(days=settings.SHADOW_AI_USAGE_NEW_DAYS)


def applications_for_list() -> QuerySet[Application]:
    """With hostname counts, scores to sort by where unscored sorts below every score, and when
    the gateway first and last saw each in use (``is_new``: first seen recently)."""
    return Application.objects.annotate(
        hostname_count=Count("hostnames", distinct=True),
        saas_sort=Coalesce("saas_score", Value(Decimal("-1"))),
        genai_sort=Coalesce("genai_score", Value(Decimal("-1"))),
        first_seen=F("usage_seen__first_at"),
        last_seen=F("usage_seen__last_at"),
        last_seen_sort=Coalesce("usage_seen__last_at", Value(EPOCH)),
        is_new=Case(When(usage_seen__first_at__gte=new_since(), then=Value(True)), default=Value(False),
                    output_field=BooleanField()),
    )


def gateway_policies() -> QuerySet[GatewayPolicy]:
    return GatewayPolicy.objects.select_related("target")


def gateway_policies_using_dlp_profile(profile_id: int) -> list[str]:
    """Names of the Gateway policies (enabled or not) with a DLP profile condition naming it."""
    names = []
    candidates = GatewayPolicy.objects.filter(conditions__contains=[{"type": "dlp_profile"}]).order_by("position")
    for name, conditions in candidates.values_list("name", "conditions"):
        if any(c.get("type") == "dlp_profile" and str(profile_id) in map(str, c.get("values") or [])
               for c in conditions):
            names.append(name)
    return names


# --- The hostname fast path -------------------------------------------------------------------


@dataclass(frozen=True)
class LibrarySnapshot:
    matcher: hostnames.HostnameMatcher[AppFacts]
    by_id: dict[int, AppFacts]
    by_key: dict[str, AppFacts]


def _build_snapshot() -> LibrarySnapshot:
    first_host: dict[int, str] = {}
    pairs: list[tuple[str, int]] = []
    for host, app_id in ApplicationHostname.objects.order_by("pk").values_list("hostname", "application_id"):
        pairs.append((host, app_id))
        first_host.setdefault(app_id, host)
    by_id: dict[int, AppFacts] = {}
    for pk, key, name, vendor, category, status, gen_ai, saas, genai, url in Application.objects.values_list(
        "pk", "key", "name", "vendor", "category", "status", "is_gen_ai", "saas_score", "genai_score", "url"
    ):
        if not url and pk in first_host:
            url = f"https://{first_host[pk]}/"
        by_id[pk] = AppFacts(id=pk, key=key, name=name, category=category, status=status, gen_ai=gen_ai,
                             saas_score=saas, genai_score=genai, url=url, vendor=vendor)
    matcher = hostnames.HostnameMatcher((host, by_id[app_id]) for host, app_id in pairs if app_id in by_id)
    return LibrarySnapshot(matcher, by_id, {a.key: a for a in by_id.values()})


def library_snapshot(*, synced: bool = False) -> LibrarySnapshot:
    """The library as decisions see it, built once per cache version in each process.
    ``synced``: the caller has just checked the shared version."""
    if not synced:
        hotcache.ensure_fresh()
    table = hotcache.table(CACHE_TABLE)
    found = table.get("snapshot")
    if found is None:
        found = table["snapshot"] = _build_snapshot()
    return found


def hostname_matcher() -> hostnames.HostnameMatcher[AppFacts]:
    """The current suffix map: ``hostname_matcher().match("chat.openai.com")`` → AppFacts or None.
    Hold on to it for a batch (log ingest); call again for the next batch to see changes."""
    return library_snapshot().matcher


def application_for_hostname(hostname: str) -> AppFacts | None:
    """The library application a hostname belongs to (its own or a parent's hostname, longest
    wins), or None. Accepts a URL, a port or upper case; anything that is not a hostname is None."""
    try:
        host = hostnames.normalize(hostname)
    except ValueError:
        return None
    return library_snapshot().matcher.match(host)


# --- Scores and evidence for the pages --------------------------------------------------------


@dataclass(frozen=True)
class EvidenceRow:
    field: scoring.Field
    shipped: Any
    override: EvidenceOverride | None

    @property
    def effective(self) -> Any:
        return self.override.value if self.override is not None else self.shipped

    @property
    def shipped_display(self) -> str:
        return self.field.display(self.shipped)

    @property
    def override_display(self) -> str:
        return self.field.display(self.override.value) if self.override is not None else ""

    @property
    def effective_display(self) -> str:
        return self.field.display(self.effective)

    @property
    def known(self) -> bool:
        return self.effective is not None


@dataclass(frozen=True)
class RubricView:
    result: scoring.ScoreResult
    rows: dict[str, list[EvidenceRow]]  # by component key


def score_views(application: Application) -> list[RubricView]:
    """Each rubric that applies, with its score, breakdown and the evidence behind it."""
    overrides = {o.field: o for o in EvidenceOverride.objects.filter(application=application)}
    evidence = {**application.evidence, **{k: o.value for k, o in overrides.items()}}
    views = []
    for key, result in scoring.scores_for(evidence, gen_ai=application.is_gen_ai).items():
        rubric = scoring.RUBRICS[key]
        rows = {
            component.key: [EvidenceRow(f, application.evidence.get(f.key), overrides.get(f.key))
                            for f in component.fields]
            for component in rubric.components
        }
        views.append(RubricView(result, rows))
    return views
