from __future__ import annotations

from urllib.parse import quote, urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.onboarding import recovery, selectors
from accounts.onboarding.filters import CaseFilter, OutboxFilter, VerificationFilter
from accounts.onboarding.forms import CaseForm, RecoveryForm
from accounts.onboarding.mail import outbox_in_use
from accounts.onboarding.models import OnboardingCase, VerificationRecord
from accounts.onboarding.services import cases, invitations, verification
from accounts.onboarding.services.gate import case_of_browser, gate_of, onboarding_finish
from accounts.onboarding.services.providers import verification_providers
from accounts.selectors import active_emails
from accounts.services.rights import may_change_groups
from console.core.errors import ConsoleError, ValidationFailed, VerificationRequired
from console.core.forms import add_service_error
from console.core.listing import build_listing
from console.core.permissions import public, roles_required
from console.core.redirects import safe_next
from console.core.roles import ADMINS, CONSOLE_READERS, EVERYONE, PEOPLE_READERS, PEOPLE_WRITERS
from mfa.selectors import authenticators_of
from mfa.services import recently_verified

Purpose = VerificationRecord.Purpose


def _provider_form_action(response: HttpResponse) -> HttpResponse:
    """Pages whose form starts a verification: the POST answers with a redirect to the provider,
    and CSP's form-action also governs where a form's redirects may lead."""

    origins = sorted({
        f"{parts.scheme}://{parts.netloc}" for parts in
        (urlsplit(idp.authorization_endpoint) for idp in verification_providers()) if parts.netloc
    })
    if origins:
        config = dict(settings.SECURE_CSP)
        config["form-action"] = [*config.get("form-action", []), *origins]
        response._csp_config = config  # type: ignore[attr-defined]
    return response


def _callback_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("onboarding:callback"))


def _link_base(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("onboarding:invite", kwargs={"token": "x"})).rsplit("/x/", 1)[0]


def _safe_next(request: HttpRequest, value: str) -> str:
    return safe_next(request, value, "console:home")


# --- HR ---------------------------------------------------------------------------------------

CASE_SORTS = {"name": "legal_name", "work_email": "work_email", "start": "start_date", "status": "status",
              "created": "created_at", "updated": "updated_at"}


@roles_required(PEOPLE_READERS)
def case_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.cases_for_list(), sorts=CASE_SORTS, default_sort="-created",
                            filterset_class=CaseFilter)
    template = "onboarding/case_list.html#results" if request.htmx else "onboarding/case_list.html"
    counts = selectors.case_counts()
    return render(request, template, {
        "listing": listing, "can_write": request.user.role in PEOPLE_WRITERS,
        "counts": [(value, label, counts[value]) for value, label in OnboardingCase.Status.choices],
        "has_provider": bool(verification_providers()),
    })


@roles_required(PEOPLE_WRITERS)
def case_create(request: HttpRequest) -> HttpResponse:
    providers = verification_providers()
    form = CaseForm(request.POST or None, providers=providers, with_groups=may_change_groups(request.user),
                    initial={"provider": providers[0].pk if providers else None})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case = cases.case_create(
                actor=request.user, legal_name=data["legal_name"], personal_email=data["personal_email"],
                work_email=data["work_email"], start_date=data["start_date"], manager=data["manager"],
                groups=list(data.get("groups") or []), provider=data["provider"], link_base=_link_base(request),
                date_of_birth=data.get("date_of_birth"),
            )
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"{case.legal_name} was invited: the link went to {case.personal_email}.")
            return redirect("onboarding:case-detail", case_id=case.pk)
    return render(request, "onboarding/case_form.html", {
        "form": form, "providers": providers, "people_emails": active_emails(),
    })


@roles_required(PEOPLE_READERS)
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = selectors.get_case_for(request.user, case_id)
    return render(request, "onboarding/case_detail.html", {
        "case": case, "groups": list(case.groups.order_by("name")),
        "timeline": selectors.case_timeline(case), "verifications": selectors.case_verifications(case),
        "can_write": request.user.role in PEOPLE_WRITERS, "outbox": outbox_in_use(),
        "show_transactions": selectors.sees_transactions(request.user),
    })


@roles_required(PEOPLE_WRITERS)
@require_POST
def case_resend(request: HttpRequest, case_id: int) -> HttpResponse:
    case = selectors.get_case_for(request.user, case_id)
    try:
        cases.case_resend(actor=request.user, case=case, link_base=_link_base(request))
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"A new invitation went to {case.personal_email}; the old link no longer works.")
    return redirect("onboarding:case-detail", case_id=case.pk)


@roles_required(PEOPLE_WRITERS)
@require_POST
def case_cancel(request: HttpRequest, case_id: int) -> HttpResponse:
    case = selectors.get_case_for(request.user, case_id)
    try:
        cases.case_cancel(actor=request.user, case=case)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The onboarding was cancelled; the invitation link no longer works.")
    return redirect("onboarding:case-detail", case_id=case.pk)


VERIFICATION_SORTS = {"at": "at", "email": "email", "purpose": "purpose", "outcome": "outcome"}


@roles_required(PEOPLE_READERS)
def verification_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.verifications_for_list(request.user), sorts=VERIFICATION_SORTS,
                            default_sort="-at", filterset_class=VerificationFilter)
    template = "onboarding/verification_list.html#results" if request.htmx else "onboarding/verification_list.html"

    return render(request, template, {"listing": listing, "retention_days": settings.VERIFICATION_RETENTION_DAYS,
                                      "show_transactions": selectors.sees_transactions(request.user)})


OUTBOX_SORTS = {"sent": "sent_at", "to": "to", "subject": "subject"}


@roles_required(PEOPLE_WRITERS)
def outbox_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.outbox_for_list(), sorts=OUTBOX_SORTS, default_sort="-sent",
                            filterset_class=OutboxFilter)
    template = "onboarding/outbox_list.html#results" if request.htmx else "onboarding/outbox_list.html"
    return render(request, template, {"listing": listing, "in_use": outbox_in_use()})


@roles_required(PEOPLE_WRITERS)
def outbox_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    message = selectors.get_message_for(request.user, message_id)
    response = render(request, "onboarding/outbox_detail.html", {"message": message})
    response["Cache-Control"] = "no-store"
    return response


# --- The new hire -----------------------------------------------------------------------------


@public
@never_cache
def invite(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the invitation. GET explains (link scanners may open it); POST uses it."""
    if request.method == "POST":
        try:
            url = invitations.invitation_redeem(request, token=token, redirect_uri=_callback_url(request))
        except ConsoleError as exc:
            return render(request, "onboarding/invite.html", {"error": exc.message}, status=409)
        return HttpResponseRedirect(url)
    try:
        case = invitations.invitation_open(token=token)
    except ConsoleError as exc:
        mine = case_of_browser(request)
        if mine is not None and mine.status == OnboardingCase.Status.PENDING:
            return redirect("onboarding:retry")
        return render(request, "onboarding/invite.html", {"error": exc.message}, status=410)
    # The token in the URL never leaves in a Referer: the console's policy is same-origin.
    return _provider_form_action(render(request, "onboarding/invite.html", {"case": case}))


@public
@never_cache
def retry(request: HttpRequest) -> HttpResponse:
    case = case_of_browser(request)
    if request.method == "POST":
        try:
            return HttpResponseRedirect(invitations.onboarding_retry(request, redirect_uri=_callback_url(request)))
        except ConsoleError as exc:
            return render(request, "onboarding/result.html", {"ok": False, "message": exc.message}, status=409)
    if case is None:
        return render(request, "onboarding/result.html", {
            "ok": False, "message": "This browser has no onboarding in progress. Open the link from your "
                                    "invitation e-mail.",
        }, status=404)
    return _provider_form_action(render(request, "onboarding/retry.html", {"case": case}))


@public
@never_cache
def callback(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the browser back."""
    try:
        result = verification.verification_complete(request, params=request.GET)
    except ConsoleError as exc:
        return render(request, "onboarding/result.html", {"ok": False, "message": exc.message}, status=429)
    if result.ok:
        messages.success(request, result.message)
        return HttpResponseRedirect(result.next_url)
    return _provider_form_action(render(request, "onboarding/result.html", {
        "ok": False, "message": result.message, "check": result.check, "purpose": result.purpose,
        "retry": result.can_retry,
    }, status=400))


@roles_required(EVERYONE)
def portal(request: HttpRequest) -> HttpResponse:
    """The onboarding portal: after verification, enroll a first authenticator, then finish."""

    gate = gate_of(request)
    if gate is None:
        return redirect("console:launcher")
    case = None
    if gate.get("case"):
        case = selectors.own_case(request.user, gate["case"])
    return render(request, "onboarding/portal.html", {
        "gate": gate, "case": case, "authenticators": authenticators_of(request.user),
        "recovery": gate.get("purpose") == Purpose.RECOVERY,
    })


@roles_required(EVERYONE)
@require_POST
def finish(request: HttpRequest) -> HttpResponse:
    try:
        case = onboarding_finish(request)
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return redirect("onboarding:portal")
    if case is not None:
        messages.success(request, f"Welcome aboard, {request.user.get_short_name()}! Your account is active.")
    elif recovery.suspended_of(request.user):
        messages.success(request, "You are all set. Your old authenticators are suspended: see Authenticators "
                                  "before your recovery.")
    else:
        messages.success(request, "You are all set.")
    return redirect("console:launcher")


# --- Signed-in people: step-up, lost authenticators -------------------------------------------


def _verify_page(request: HttpRequest, *, purpose: str, template: str, next_url: str = "") -> HttpResponse:
    error = None
    providers = verification_providers()
    if request.method == "POST":
        try:
            url = verification.verification_begin(
                request, purpose=purpose, idp=providers[0] if providers else None,
                redirect_uri=_callback_url(request), email=request.user.email, user=request.user, next_url=next_url,
            )
        except ConsoleError as exc:
            error = exc.message
        else:
            return HttpResponseRedirect(url)
    return _provider_form_action(render(request, template, {
        "provider": providers[0] if providers else None, "next": next_url, "error": error,
    }, status=200 if error is None else 409))


@roles_required(EVERYONE)
def verify(request: HttpRequest) -> HttpResponse:
    """Step-up: an Access policy asks for a (recent) identity verification."""
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    return _verify_page(request, purpose=Purpose.STEP_UP, template="onboarding/verify.html", next_url=next_url)


@roles_required(EVERYONE)
def replace_authenticators(request: HttpRequest) -> HttpResponse:
    """Lost every authenticator: prove who you are again instead of calling the help desk."""
    return _verify_page(request, purpose=Purpose.MFA_RESET, template="onboarding/replace.html")


@public
@never_cache
def recover(request: HttpRequest) -> HttpResponse:
    """Account recovery for someone who cannot sign in any more."""
    form = RecoveryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            url = verification.recovery_begin(request, email=form.cleaned_data["email"],
                                              redirect_uri=_callback_url(request))
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            return HttpResponseRedirect(url)
    return _provider_form_action(render(request, "onboarding/recover.html", {
        "form": form, "available": bool(verification_providers()),
    }))


@public
@never_cache
def recover_waiting(request: HttpRequest) -> HttpResponse:
    """Where a privileged person waits for a second admin's approval (this browser's request)."""
    recovery_id = request.session.get(recovery.WAITING_KEY)
    waiting = recovery.waiting_recovery(recovery_id) if recovery_id else None
    return render(request, "onboarding/recover_waiting.html", {
        "recovery": waiting, "message": recovery.waiting_message(waiting) if waiting else "",
    })


@public
@never_cache
def recover_report(request: HttpRequest, token: str) -> HttpResponse:
    """"This wasn't me" from the owner's e-mail. GET asks (link scanners may open it); POST freezes."""
    try:
        target = recovery.report_target(token)
        if request.method == "POST":
            target = recovery.recovery_report(token=token)
            return render(request, "onboarding/recover_report.html", {"recovery": target, "done": True})
    except ConsoleError as exc:
        return render(request, "onboarding/recover_report.html", {"error": exc.message}, status=410)
    return render(request, "onboarding/recover_report.html", {"recovery": target, "done": target.reported_at})


@roles_required(EVERYONE)
def recover_old(request: HttpRequest) -> HttpResponse:
    """The owner's view of the authenticators suspended by their recovery, and their removal."""

    if request.method == "POST":
        try:
            recovery.recovery_old_confirm(request, recovery_id=int(request.POST.get("recovery") or 0))
        except VerificationRequired as exc:
            messages.error(request, exc.message)
            return redirect(f"{reverse('mfa:verify')}?next={quote(reverse('onboarding:recover-old'))}")
        except ConsoleError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Your old authenticators were removed for good.")
        return redirect("onboarding:recover-old")

    now = timezone.now()
    rows = [(r, recovery.confirm_after(r), now >= recovery.confirm_after(r))
            for r in recovery.suspended_of(request.user)]
    return render(request, "onboarding/recover_old.html", {
        "rows": rows, "recently_verified": recently_verified(request.session),
    })


RECOVERY_SORTS = {"requested": "requested_at", "status": "status", "email": "user__email"}


@roles_required(CONSOLE_READERS)
def recovery_list(request: HttpRequest) -> HttpResponse:
    """Account recoveries: approvals waiting, suspended authenticators, frozen accounts."""
    queryset = recovery.recoveries_for_list()
    status = request.GET.get("status", "")
    if status in recovery.RStatus.values:
        queryset = queryset.filter(status=status)
    listing = build_listing(request, queryset, sorts=RECOVERY_SORTS, default_sort="-requested")
    template = "onboarding/recovery_list.html#results" if request.htmx else "onboarding/recovery_list.html"
    pending = recovery.recoveries_for_list().filter(status=recovery.RStatus.PENDING).count()
    return render(request, template, {
        "listing": listing, "can_write": request.user.role in ADMINS, "pending": pending,
        "statuses": recovery.RStatus.choices, "status": status,
    })


RECOVERY_ACTIONS = {
    "approve": (recovery.recovery_approve, "The recovery was approved: the person can now verify again to finish."),
    "reject": (recovery.recovery_reject, "The recovery was rejected."),
    "remove-old": (recovery.recovery_old_remove, "The old authenticators were removed for good."),
    "lift": (recovery.recovery_freeze_lift, "The freeze was lifted: the account can be recovered again."),
}


@roles_required(ADMINS)
@require_POST
def recovery_action(request: HttpRequest) -> HttpResponse:
    action = RECOVERY_ACTIONS.get(request.POST.get("action", ""))
    try:
        target = recovery.get_recovery_for(request.user, int(request.POST.get("recovery") or 0))
        if action is None:
            raise ValidationFailed("Unknown action.")
        action[0](actor=request.user, recovery=target, reason=request.POST.get("reason", ""))
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, action[1])
    return redirect("onboarding:recovery-list")
