"""Reads of the CASB. ``get_*_for`` apply the role check before returning one object."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from accounts.models import User
from console.core.permissions import get_for_role
from console.core.roles import CONSOLE_READERS
from shadow_ai.casb.findings import Severity
from shadow_ai.casb.models import DiscoveredApp, Finding, FindingInstance, Integration, ScanRun


def _get(queryset: QuerySet, viewer: User, pk: int, noun: str):
    return get_for_role(queryset, viewer, pk, noun, CONSOLE_READERS)


def get_integration_for(viewer: User, pk: int) -> Integration:
    return _get(Integration.objects.all(), viewer, pk, "integration")


def get_run_for(viewer: User, pk: int) -> ScanRun:
    return _get(ScanRun.objects.select_related("integration"), viewer, pk, "scan")


def get_finding_for(viewer: User, pk: int) -> Finding:
    return _get(Finding.objects.select_related("integration"), viewer, pk, "finding")


def get_instance_for(viewer: User, pk: int) -> FindingInstance:
    return _get(FindingInstance.objects.select_related("finding__integration", "application"), viewer, pk,
                "finding instance")


def any_integration() -> bool:
    return Integration.objects.exists()


def any_finding() -> bool:
    return Finding.objects.exists()


def integrations_for_list() -> QuerySet[Integration]:
    open_findings = Q(findings__resolved_at__isnull=True, findings__status=Finding.Status.ACTIVE)
    return Integration.objects.annotate(
        open_findings=Count("findings", filter=open_findings, distinct=True),
        critical=Count("findings", filter=open_findings & Q(findings__severity=Severity.CRITICAL), distinct=True),
        high=Count("findings", filter=open_findings & Q(findings__severity=Severity.HIGH), distinct=True),
        scanning=Exists(ScanRun.objects.filter(integration=OuterRef("pk"), status__in=ScanRun.ACTIVE)),
    )


def findings_for_list() -> QuerySet[Finding]:
    return Finding.objects.select_related("integration")


def severity_summary(integration: Integration) -> list[tuple[Severity, int]]:
    counts = dict(Finding.objects.filter(integration=integration, resolved_at__isnull=True,
                                         status=Finding.Status.ACTIVE).values_list("severity").annotate(n=Count("pk")))
    return [(s, counts.get(int(s), 0)) for s in sorted(Severity, reverse=True)]


def latest_run(integration: Integration) -> ScanRun | None:
    return integration.runs.order_by("-created_at", "-pk").first()


def runs_of(integration: Integration) -> QuerySet[ScanRun]:
    return integration.runs.order_by("-created_at", "-pk")


def instances_of(finding: Finding) -> QuerySet[FindingInstance]:
    return finding.instances.select_related("application")


def discovered_for_list() -> QuerySet[DiscoveredApp]:
    return DiscoveredApp.objects.select_related("integration", "application")


def discovered_application_ids() -> QuerySet:
    """Library applications some integration found people using (the library's "discovered" mark)."""
    return DiscoveredApp.objects.filter(application__isnull=False, resolved_at__isnull=True).values("application_id")


def discovered_exists() -> Exists:
    """For annotating library querysets: ``discovered=...``."""
    return Exists(DiscoveredApp.objects.filter(application=OuterRef("pk"), resolved_at__isnull=True))


def discoveries_of_application(application_id: int) -> list[DiscoveredApp]:
    return list(DiscoveredApp.objects.filter(application_id=application_id).select_related("integration")
                .order_by("resolved_at", "-last_seen_at"))


def integrations_using_dlp_profile(profile_id: int) -> list[str]:
    """Names of the integrations that scan file contents with this DLP profile."""
    return list(Integration.objects.filter(dlp_profiles=profile_id).order_by("name").values_list("name", flat=True))
