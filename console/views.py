"""The pages of the console itself: the overview and system health (the site's root pages are routed in
``console/urls.py``)."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from accounts import selectors as accounts_selectors
from accounts.onboarding import selectors as onboarding_selectors
from console import health
from console.audit import selectors as audit_selectors
from console.core import selectors, services
from console.core.models import WorkerCheck
from console.core.permissions import public, roles_required
from console.core.roles import ADMINS, CONSOLE_READERS, EVERYONE, PEOPLE_READERS, Role


@roles_required(EVERYONE)
def home(request: HttpRequest) -> HttpResponse:
    if request.user.role == Role.EMPLOYEE:
        return redirect("console:launcher")
    since = timezone.now() - timedelta(hours=24)
    by_role = accounts_selectors.active_users_by_role()
    # Sign-ins are security events: admins and auditors, not HR.
    show_security = request.user.role in CONSOLE_READERS
    week_ago = timezone.localdate() - timedelta(days=7)
    sign_ins = audit_selectors.sign_in_counts(since) if show_security else {}
    context = {
        "show_security": show_security,
        "active_users": sum(by_role.values()),
        "deactivated_users": accounts_selectors.deactivated_user_count(),
        "groups": accounts_selectors.group_count(),
        "roles": [(r, Role(r).label, by_role.get(r, 0)) for r in Role.values],
        "sign_ins": sign_ins.get("auth.login", 0),
        "failed_sign_ins": sign_ins.get("auth.login_failed", 0),
        "lockouts": sign_ins.get("auth.lockout", 0),
        "recent_events": audit_selectors.recent_events(10) if request.user.role in CONSOLE_READERS else [],
        "checks": health.all_checks() if request.user.role in CONSOLE_READERS else [],
        # New hires: what HR follows day to day (pending, failed, activated in the last 7 days).
        "onboarding": (onboarding_selectors.overview_counts(since=week_ago) if request.user.role in PEOPLE_READERS
                       else None),
        "week_ago": week_ago,
    }
    return render(request, "console/home.html", context)


@roles_required(CONSOLE_READERS)
def health_page(request: HttpRequest) -> HttpResponse:
    checks = health.all_checks()
    template = "console/health.html#checks" if request.htmx else "console/health.html"
    return render(request, template, {
        "checks": checks, "all_ok": all(c.ok for c in checks),
        "recent_checks": selectors.recent_worker_checks(5),
        "can_write": request.user.role in ADMINS,
    })


@roles_required(ADMINS)
@require_POST
def worker_check_start(request: HttpRequest) -> HttpResponse:
    check = services.worker_check_request(actor=request.user)
    return render(request, "console/health.html#worker-check", {"check": check})


@roles_required(CONSOLE_READERS)
def worker_check_status(request: HttpRequest, check_id: int) -> HttpResponse:
    check = selectors.get_worker_check_for(request.user, check_id, CONSOLE_READERS)
    waited = (timezone.now() - check.requested_at).total_seconds()
    response = render(request, "console/health.html#worker-check", {"check": check, "waited": waited})
    if check.status == WorkerCheck.Status.DONE or waited > 60:
        # 286 tells htmx to stop polling; the fragment still replaces the old one.
        stop = HttpResponseStopPolling()
        stop.content = response.content
        return stop
    return response


@public
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and reaches its database."""
    ok = health.check_database().ok
    return JsonResponse({"status": "ok" if ok else "unavailable"}, status=200 if ok else 503)
