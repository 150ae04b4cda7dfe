from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from console.audit.selectors import audit_events_for_object
from console.core.csv_export import stream_csv
from console.core.errors import ConsoleError
from console.core.forms import add_service_error
from console.core.jobs import render_poll
from console.core.listing import build_listing
from console.core.permissions import roles_required
from console.core.redirects import safe_next
from console.core.roles import ADMINS, CONSOLE_READERS
from shadow_ai.casb import connectors, selectors, services
from shadow_ai.casb.filters import DiscoveredFilter, FindingFilter, InstanceFilter, IntegrationFilter
from shadow_ai.casb.findings import SEVERITY_MEANING, Severity
from shadow_ai.casb.forms import (
    IntegrationForm,
    ReasonForm,
    SeverityForm,
    edit_initial,
)
from shadow_ai.casb.models import Finding, FindingInstance

INTEGRATION_SORTS = {"name": "name", "vendor": "vendor", "status": "status", "last_scan": "last_scan_at",
                     "next_scan": "next_scan_at", "findings": "open_findings"}
FINDING_SORTS = {"severity": "severity", "title": "title", "integration": "integration__name",
                 "instances": "active_instances", "first_seen": "first_seen_at", "last_seen": "last_seen_at",
                 "status": "status"}
INSTANCE_SORTS = {"asset": "asset", "owner": "owner", "first_seen": "first_seen_at", "last_seen": "last_seen_at"}
RUN_SORTS = {"created": "created_at"}
DISCOVERED_SORTS = {"name": "name", "users": "user_count", "integration": "integration__name",
                    "first_seen": "first_seen_at", "last_seen": "last_seen_at"}


def _can_write(request: HttpRequest) -> bool:
    return request.user.role in ADMINS


def _connector(vendor: str):
    try:
        return connectors.get(vendor)
    except ValueError:
        raise Http404("No such vendor.") from None


# --- Integrations ------------------------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def integration_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.integrations_for_list(), sorts=INTEGRATION_SORTS,
                            default_sort="name", filterset_class=IntegrationFilter)
    template = "casb/integration_list.html#results" if request.htmx else "casb/integration_list.html"
    return render(request, template, {"listing": listing, "can_write": _can_write(request),
                                      "none_yet": not selectors.any_integration()})


@roles_required(ADMINS)
def integration_new(request: HttpRequest) -> HttpResponse:
    return render(request, "casb/integration_new.html", {"connectors": list(connectors.CONNECTORS.values())})


@roles_required(ADMINS)
def integration_create(request: HttpRequest, vendor: str) -> HttpResponse:
    connector = _connector(vendor)
    form = IntegrationForm(request.POST or None, connector=connector, mode="create",
                           initial={"name": connector.label})
    checks = None
    if request.method == "POST" and form.is_valid():
        try:
            integration, checks = services.integration_create(
                actor=request.user, vendor=vendor, name=form.cleaned_data["name"], credentials=form.credentials(),
                config=form.config(), base_url=form.cleaned_data.get("base_url", ""),
                scan_interval_hours=form.cleaned_data["scan_interval_hours"], dlp_profiles=form.dlp_profiles())
        except services.ConnectionProblem as exc:
            checks = exc.checks
            form.add_error(None, f"Not connected. {exc.message}")
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"{integration.name} is connected. Its first scan has started.")
            return redirect("casb:integration-detail", integration_id=integration.pk)
    return render(request, "casb/integration_form.html", {"form": form, "connector": connector, "mode": "create",
                                                          "checks": checks})


@roles_required(CONSOLE_READERS)
def integration_detail(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = selectors.get_integration_for(request.user, integration_id)
    runs = build_listing(request, selectors.runs_of(integration), sorts=RUN_SORTS, default_sort="-created",
                         per_page=25)
    connector = integration.connector
    config = [(spec.label, integration.config.get(spec.name, "")) for spec in connector.config_fields]
    stored = integration.secret_values()
    return render(request, "casb/integration_detail.html", {
        "integration": integration, "connector": connector, "config": config, "listing": runs,
        "run": selectors.latest_run(integration), "severities": selectors.severity_summary(integration),
        "can_write": _can_write(request), "history": audit_events_for_object("casb.integration", str(integration.pk)),
        "secret_labels": [spec.label for spec in connector.credential_fields if spec.name in stored],
        "dlp_profiles": list(integration.dlp_profiles.order_by("name")),
    })


@roles_required(ADMINS)
def integration_edit(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = selectors.get_integration_for(request.user, integration_id)
    connector = integration.connector
    form = IntegrationForm(request.POST or None, connector=connector, mode="edit", initial=edit_initial(integration))
    checks = None
    if request.method == "POST" and form.is_valid():
        try:
            services.integration_update(
                actor=request.user, integration=integration, name=form.cleaned_data["name"], config=form.config(),
                base_url=form.cleaned_data.get("base_url", ""),
                scan_interval_hours=form.cleaned_data["scan_interval_hours"])
            services.integration_set_dlp_profiles(actor=request.user, integration=integration,
                                                  dlp_profiles=form.dlp_profiles())
        except services.ConnectionProblem as exc:
            checks = exc.checks
            form.add_error(None, f"Not saved. {exc.message}")
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Changes saved.")
            return redirect("casb:integration-detail", integration_id=integration.pk)
    return render(request, "casb/integration_form.html", {"form": form, "connector": connector, "mode": "edit",
                                                          "integration": integration, "checks": checks})


@roles_required(ADMINS)
def integration_credentials(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = selectors.get_integration_for(request.user, integration_id)
    connector = integration.connector
    form = IntegrationForm(request.POST or None, connector=connector, mode="credentials")
    checks = None
    if request.method == "POST" and form.is_valid():
        try:
            services.integration_rotate_credentials(actor=request.user, integration=integration,
                                                    credentials=form.credentials())
        except services.ConnectionProblem as exc:
            checks = exc.checks
            form.add_error(None, f"The old credentials are still in use. {exc.message}")
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "New credentials saved and tested; a scan started to confirm them.")
            return redirect("casb:integration-detail", integration_id=integration.pk)
    return render(request, "casb/integration_form.html", {"form": form, "connector": connector,
                                                          "mode": "credentials", "integration": integration,
                                                          "checks": checks})


@roles_required(ADMINS)
@require_POST
def integration_test(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = selectors.get_integration_for(request.user, integration_id)
    error, checks = "", []
    if integration.is_demo:
        error = "A demo integration has no credentials: there is nothing to test."
    else:
        try:
            checks = services.integration_test(actor=request.user, integration=integration)
        except ConsoleError as exc:
            error = exc.message
    return render(request, "casb/integration_detail.html#test-results", {
        "integration": integration, "checks": checks, "error": error,
        "all_ok": bool(checks) and all(c.ok for c in checks), "tested_at": timezone.now()})


@roles_required(ADMINS)
@require_POST
def integration_scan(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = selectors.get_integration_for(request.user, integration_id)
    try:
        _run, new = services.scan_start(actor=request.user, integration=integration)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Scan started." if new else "A scan is already running; its progress shows below.")
    return redirect("casb:integration-detail", integration_id=integration.pk)


@roles_required(ADMINS)
@require_POST
def integration_pause(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = selectors.get_integration_for(request.user, integration_id)
    if services.integration_pause(actor=request.user, integration=integration):
        messages.success(request, f"{integration.name} is paused: no scans until it is resumed.")
    return redirect("casb:integration-detail", integration_id=integration.pk)


@roles_required(ADMINS)
@require_POST
def integration_resume(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = selectors.get_integration_for(request.user, integration_id)
    if services.integration_resume(actor=request.user, integration=integration):
        messages.success(request, f"{integration.name} is scanned again; the next scan is due now.")
    return redirect("casb:integration-detail", integration_id=integration.pk)


@roles_required(ADMINS)
@require_POST
def integration_delete(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = selectors.get_integration_for(request.user, integration_id)
    name = integration.name
    services.integration_delete(actor=request.user, integration=integration)
    messages.success(request, f"{name} was deleted with its credentials, findings and scan history.")
    return redirect("casb:integration-list")


# --- Scans -------------------------------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def run_detail(request: HttpRequest, scan_run_id: int) -> HttpResponse:
    run = selectors.get_run_for(request.user, scan_run_id)
    return render(request, "casb/run_detail.html", {"run": run, "integration": run.integration})


@roles_required(CONSOLE_READERS)
def run_progress(request: HttpRequest, scan_run_id: int) -> HttpResponse:
    run = selectors.get_run_for(request.user, scan_run_id)
    return render_poll(request, "casb/integration_detail.html#progress", {"run": run, "integration": run.integration},
                       job=run)


# --- Findings ----------------------------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def finding_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.findings_for_list(), sorts=FINDING_SORTS, default_sort="-severity",
                            filterset_class=FindingFilter)
    template = "casb/finding_list.html#results" if request.htmx else "casb/finding_list.html"
    return render(request, template, {"listing": listing, "none_yet": not selectors.any_finding(),
                                      "integrations": selectors.any_integration(),
                                      "export_query": request.GET.urlencode()})


@roles_required(CONSOLE_READERS)
def finding_export(request: HttpRequest):
    listing = build_listing(request, selectors.findings_for_list(), sorts=FINDING_SORTS, default_sort="-severity",
                            filterset_class=FindingFilter, per_page=100)
    rows = listing.page.paginator.object_list

    def lines():
        for f in rows.iterator(chunk_size=500):
            yield [f.title, f.vendor, Severity(f.severity).label, f.get_status_display(), f.integration.name,
                   f.active_instances, f.hidden_instances, f.first_seen_at.isoformat(), f.last_seen_at.isoformat(),
                   f.resolved_at.isoformat() if f.resolved_at else "", f.remediation]

    return stream_csv(["Finding", "Vendor", "Severity", "Status", "Integration", "Active instances",
                       "Hidden instances", "First detected", "Last seen", "Resolved", "Remediation"], lines(),
                      "casb-findings")


@roles_required(CONSOLE_READERS)
def finding_detail(request: HttpRequest, finding_id: int) -> HttpResponse:
    finding = selectors.get_finding_for(request.user, finding_id)
    listing = build_listing(request, selectors.instances_of(finding), sorts=INSTANCE_SORTS, default_sort="asset",
                            filterset_class=InstanceFilter)
    if request.htmx:
        return render(request, "casb/finding_detail.html#results", {"finding": finding, "listing": listing,
                                                                    "can_write": _can_write(request)})
    apps = services.applications_of(finding)
    return render(request, "casb/finding_detail.html", {
        "finding": finding, "listing": listing, "can_write": _can_write(request), "applications": apps,
        "severity_meaning": SEVERITY_MEANING.get(Severity(finding.severity), ""),
        "severity_form": SeverityForm(initial={"severity": finding.severity}), "kind": finding.kind,
        "tab": request.GET.get("show") or "active",
        "history": audit_events_for_object("casb.finding", str(finding.pk), limit=50),
        "export_query": request.GET.urlencode(),
    })


@roles_required(CONSOLE_READERS)
def finding_instances_export(request: HttpRequest, finding_id: int):
    finding = selectors.get_finding_for(request.user, finding_id)
    listing = build_listing(request, selectors.instances_of(finding), sorts=INSTANCE_SORTS, default_sort="asset",
                            filterset_class=InstanceFilter, per_page=100)
    rows = listing.page.paginator.object_list

    def lines():
        for i in rows.iterator(chunk_size=500):
            yield [finding.title, i.asset, i.asset_kind, i.owner, i.get_status_display(),
                   i.first_seen_at.isoformat(), i.last_seen_at.isoformat(),
                   i.resolved_at.isoformat() if i.resolved_at else "", i.application.name if i.application else "",
                   "; ".join(f"{k}={v}" for k, v in sorted(i.details.items()))]

    return stream_csv(["Finding", "Asset", "Kind", "Owner", "Status", "First seen", "Last seen", "Resolved",
                       "Application", "Details"], lines(), f"casb-finding-{finding.pk}")


@roles_required(ADMINS)
@require_POST
def finding_status(request: HttpRequest, finding_id: int) -> HttpResponse:
    finding = selectors.get_finding_for(request.user, finding_id)
    form = ReasonForm(request.POST)
    status = request.POST.get("status", "")
    try:
        changed = services.finding_set_status(actor=request.user, finding=finding, status=status,
                                              reason=form.data.get("reason", ""))
    except ConsoleError as exc:
        messages.error(request, f"Nothing changed. {exc.message}")
    else:
        if changed:
            messages.success(request, "Finding ignored: scans go on, and it stays ignored." if status == "ignored"
                             else "Finding active again.")
    return redirect("casb:finding-detail", finding_id=finding.pk)


@roles_required(ADMINS)
@require_POST
def finding_severity(request: HttpRequest, finding_id: int) -> HttpResponse:
    finding = selectors.get_finding_for(request.user, finding_id)
    form = SeverityForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick a severity and say why; the reason is kept in the audit trail.")
    else:
        try:
            if services.finding_set_severity(actor=request.user, finding=finding,
                                             severity=form.cleaned_data["severity"],
                                             reason=form.cleaned_data["reason"]):
                messages.success(request, f"Severity set to {Severity(form.cleaned_data['severity']).label}.")
        except ConsoleError as exc:
            messages.error(request, exc.message)
    return redirect("casb:finding-detail", finding_id=finding.pk)


def _block(request: HttpRequest, finding: Finding, instance: FindingInstance | None) -> HttpResponse:
    try:
        policy = services.finding_block(actor=request.user, finding=finding, instance=instance)
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return redirect("casb:finding-detail", finding_id=finding.pk)
    messages.success(request, f"Gateway policy “{policy.name}” created, first in the order.")
    return redirect(reverse("shadow_ai:policy-detail", kwargs={"gateway_policy_id": policy.pk}))


@roles_required(ADMINS)
@require_POST
def finding_block(request: HttpRequest, finding_id: int) -> HttpResponse:
    return _block(request, selectors.get_finding_for(request.user, finding_id), None)


@roles_required(ADMINS)
@require_POST
def instance_status(request: HttpRequest, instance_id: int) -> HttpResponse:
    instance = selectors.get_instance_for(request.user, instance_id)
    status = request.POST.get("status", "")
    try:
        if services.instance_set_status(actor=request.user, instance=instance, status=status):
            messages.success(request, f"{instance.asset} is {'hidden' if status == 'hidden' else 'shown again'}.")
    except ConsoleError as exc:
        messages.error(request, exc.message)
    detail = reverse("casb:finding-detail", kwargs={"finding_id": instance.finding_id})
    return redirect(safe_next(request, request.POST.get("next"), detail, within=detail))


@roles_required(ADMINS)
@require_POST
def instance_block(request: HttpRequest, instance_id: int) -> HttpResponse:
    instance = selectors.get_instance_for(request.user, instance_id)
    return _block(request, instance.finding, instance)


# --- Discovered applications -------------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def discovered_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.discovered_for_list(), sorts=DISCOVERED_SORTS, default_sort="-users",
                            filterset_class=DiscoveredFilter)
    template = "casb/discovered_list.html#results" if request.htmx else "casb/discovered_list.html"
    return render(request, template, {"listing": listing, "none_yet": not selectors.discovered_for_list().exists()})
