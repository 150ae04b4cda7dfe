from __future__ import annotations

import base64
import io
import json
from urllib.parse import quote, urlsplit

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.http import require_POST

from accounts.selectors import get_user_for
from console.access import selectors as access_selectors
from console.access.models import Application
from console.core.errors import ConsoleError, VerificationRequired
from console.core.forms import add_service_error
from console.core.listing import paginate
from console.core.permissions import roles_required
from console.core.redirects import is_safe_next, safe_next
from console.core.roles import ADMINS, CONSOLE_READERS, EVERYONE, Role
from mfa import selectors, services
from mfa.console import browser_session, console_mfa_required, console_mfa_setting_update, sensitive_action
from mfa.forms import OrganizationSettingsForm
from mfa.models import Method, OrganizationSettings

METHOD_LABELS = dict(Method.choices)


def _next_url(request: HttpRequest, default: str = "mfa:devices") -> str:
    return safe_next(request, request.POST.get("next") or request.GET.get("next"), default)


def _json_body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = {}
    return body if isinstance(body, dict) else {}


@roles_required(EVERYONE)
def devices(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(request, "mfa/devices.html", {
        "authenticators": selectors.authenticators_of(user),
        "has_totp": selectors.has_totp(user),
        "backup_codes_left": selectors.unused_backup_codes(user),
        "recently_verified": services.recently_verified(request.session),
        "labels": METHOD_LABELS,
    })


@roles_required(EVERYONE)
def totp_setup(request: HttpRequest) -> HttpResponse:
    try:
        secret = services.totp_begin(browser_session(request))
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return redirect(_needs_verification(request, exc))
    error = None
    if request.method == "POST":
        try:
            services.totp_confirm(browser_session(request), code=request.POST.get("code", ""),
                                  name=request.POST.get("name", ""))
        except ConsoleError as exc:
            error = exc.message
        else:
            messages.success(request, "Your authenticator app is set up.")
            return redirect("mfa:devices")

    b32 = base64.b32encode(bytes.fromhex(secret)).decode().rstrip("=")
    issuer = "Zero Trust Console"
    uri = f"otpauth://totp/{quote(issuer)}:{quote(request.user.email)}?secret={b32}&issuer={quote(issuer)}&digits=6&period=30"
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg = io.BytesIO()
    image.save(svg)
    markup = svg.getvalue().decode()
    markup = markup[markup.index("<svg"):]  # no XML declaration inside HTML
    return render(request, "mfa/totp_setup.html", {
        "secret": " ".join(b32[i:i + 4] for i in range(0, len(b32), 4)), "qr_svg": markup,
        "uri": uri, "error": error,
    })


def _needs_verification(request: HttpRequest, exc: ConsoleError) -> str:
    if isinstance(exc, VerificationRequired):
        return f"{redirect('mfa:verify').url}?next={quote(request.get_full_path())}"
    return redirect("mfa:devices").url


@roles_required(EVERYONE)
@require_POST
def webauthn_register_options(request: HttpRequest) -> JsonResponse:
    kind = _json_body(request).get("kind", "")
    try:
        return JsonResponse(services.webauthn_register_begin(browser_session(request), kind=kind))
    except ConsoleError as exc:
        return JsonResponse({"error": exc.message}, status=400)


@roles_required(EVERYONE)
@require_POST
def webauthn_register_complete(request: HttpRequest) -> JsonResponse:
    body = _json_body(request)
    try:
        device = services.webauthn_register_complete(
            browser_session(request), kind=body.get("kind", ""), response=body.get("credential") or {},
            name=body.get("name", ""),
        )
    except ConsoleError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    messages.success(request, f"{device.name} is enrolled.")
    return JsonResponse({"ok": True, "next": redirect("mfa:devices").url})


def _application_waiting(request: HttpRequest, next_url: str) -> Application | None:
    """The Access application a step-up is for, when ``next`` opens one from the App Launcher."""
    try:
        match = resolve(urlsplit(next_url).path)
    except Resolver404:
        return None
    if match.view_name != "access:launch":
        return None
    try:
        return access_selectors.get_launchable_application_for(request.user, match.kwargs["app_id"])
    except (Http404, PermissionDenied):
        return None


def _way_back(request: HttpRequest, app: Application | None) -> dict[str, str]:
    """Where "not now" leads: the App Launcher for a step-up; signing out while the console
    insists on MFA; else the page the person came from (never back into a verify loop)."""
    if app is not None:
        return {"url": reverse("console:launcher"), "label": "Back to the App Launcher"}
    if console_mfa_required(request.user) and not services.session_verified(request.session):
        return {"sign_out": "yes", "label": "Sign out"}
    referer = request.META.get("HTTP_REFERER", "")
    if is_safe_next(request, referer) and urlsplit(referer).path != reverse("mfa:verify"):
        return {"url": referer, "label": "Cancel"}
    return {"url": reverse("console:home"), "label": "Cancel"}


def _webauthn_label(methods: list[str]) -> str:
    if methods == [Method.SECURITY_KEY]:
        return "Use my security key"
    if methods == [Method.BIOMETRICS]:
        return "Use my biometrics (Touch ID, Windows Hello)"
    return "Use my security key or biometrics"


@roles_required(EVERYONE)
def verify(request: HttpRequest) -> HttpResponse:
    """Step-up: prove one of the allowed methods, then go back where you were going. The page
    names the application it is for and offers only the methods that count for it."""
    user = request.user
    asked = request.GET.get("methods")
    wanted = [m for m in (asked or "").split(",") if m in METHOD_LABELS] or list(METHOD_LABELS)
    enrolled = selectors.methods_of(user)
    offered = [m for m in wanted if m in enrolled]
    if Method.BACKUP_CODE in enrolled and Method.BACKUP_CODE not in offered and asked is None:
        offered.append(Method.BACKUP_CODE)
    next_url = _next_url(request)
    error = None
    if request.method == "POST":
        method = request.POST.get("method")
        try:
            if method == Method.TOTP and method in offered:
                ok = services.verify_totp(browser_session(request), code=request.POST.get("code", ""))
            elif method == Method.BACKUP_CODE and method in offered:
                ok = services.verify_backup_code(browser_session(request), code=request.POST.get("code", ""))
            else:
                ok = False
        except ConsoleError as exc:
            error = exc.message
        else:
            if ok:
                messages.success(request, "Verified.")
                return _continue(request, next_url)
            error = "That code is not right (or was already used)." if method in offered \
                else "That method does not count here."
    app = _application_waiting(request, next_url)
    webauthn_methods = [m for m in offered if m in (Method.SECURITY_KEY, Method.BIOMETRICS)]
    return render(request, "mfa/verify.html", {
        "offered": offered, "labels": METHOD_LABELS, "error": error, "next": next_url, "app": app,
        "asked": [METHOD_LABELS[m] for m in wanted] if asked is not None else [],
        "webauthn_methods": ",".join(webauthn_methods), "webauthn_label": _webauthn_label(webauthn_methods),
        "missing": [m for m in wanted if m not in enrolled and m != Method.BACKUP_CODE],
        "way_back": _way_back(request, app),
    })


# Pages that may send the browser on to another site (an application's own address). A form's
# answer must not redirect there: the Content-Security-Policy's form-action ('self') also covers
# the redirects that follow a form submission, so the browser would stop at the last console page.
LEAVES_THE_CONSOLE = frozenset({"access:launch"})


def _continue(request: HttpRequest, next_url: str) -> HttpResponse:
    """After a verification posted by a form: a redirect to ``next_url``, or, when that page may
    go on to another site, a page that continues there by itself (a refresh, no script)."""
    try:
        match = resolve(urlsplit(next_url).path)
    except Http404:
        return redirect(next_url)
    if match.view_name not in LEAVES_THE_CONSOLE:
        return redirect(next_url)
    return render(request, "mfa/continue.html", {"next": next_url})


@roles_required(EVERYONE)
@require_POST
def webauthn_verify_options(request: HttpRequest) -> JsonResponse:
    methods = [m for m in str(_json_body(request).get("methods", "")).split(",")
               if m in (Method.SECURITY_KEY, Method.BIOMETRICS)] or [Method.SECURITY_KEY, Method.BIOMETRICS]
    try:
        return JsonResponse(services.webauthn_authenticate_begin(browser_session(request), methods=methods))
    except ConsoleError as exc:
        return JsonResponse({"error": exc.message}, status=400)


@roles_required(EVERYONE)
@require_POST
def webauthn_verify_complete(request: HttpRequest) -> JsonResponse:
    body = _json_body(request)
    try:
        device = services.webauthn_authenticate_complete(browser_session(request),
                                                         response=body.get("credential") or {})
    except ConsoleError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    messages.success(request, f"Verified with {device.name}.")
    return JsonResponse({"ok": True, "next": safe_next(request, body.get("next"), "mfa:devices")})


@roles_required(EVERYONE)
@require_POST
def rename(request: HttpRequest) -> HttpResponse:
    try:
        services.authenticator_rename(browser_session(request), persistent_id=request.POST.get("device", ""),
                                      name=request.POST.get("name", ""))
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Renamed.")
    return redirect("mfa:devices")


@roles_required(EVERYONE)
@require_POST
def remove(request: HttpRequest) -> HttpResponse:
    try:
        services.authenticator_remove(browser_session(request), persistent_id=request.POST.get("device", ""))
    except VerificationRequired as exc:
        messages.error(request, exc.message)
        return redirect(f"{redirect('mfa:verify').url}?next={quote(redirect('mfa:devices').url)}")
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The authenticator was removed.")
    return redirect("mfa:devices")


@roles_required(EVERYONE)
@require_POST
def backup_codes(request: HttpRequest) -> HttpResponse:
    try:
        codes = services.backup_codes_generate(browser_session(request))
    except VerificationRequired as exc:
        messages.error(request, exc.message)
        return redirect(f"{redirect('mfa:verify').url}?next={quote(redirect('mfa:devices').url)}")
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return redirect("mfa:devices")
    response = render(request, "mfa/backup_codes.html", {"codes": codes})
    response["Cache-Control"] = "no-store"
    return response


# --- Admin ------------------------------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def admin_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    people = selectors.people_with_authenticators(query)
    page = paginate(Paginator(people, 25), request.GET.get("page"))
    devices = selectors.authenticators_by_person(page.object_list)
    rows = [(person, devices[person.pk]) for person in page.object_list]
    return render(request, "mfa/admin_list.html", {
        "rows": rows, "page": page, "query": query, "labels": METHOD_LABELS,
        "clones": selectors.suspected_clones(),
        "can_write": request.user.role in ADMINS,
    })


@roles_required(ADMINS)
@sensitive_action("remove someone's authenticators")
@require_POST
def admin_revoke(request: HttpRequest, user_id: int) -> HttpResponse:
    person = get_user_for(request.user, user_id)
    device = request.POST.get("device") or None
    try:
        count = services.admin_revoke(actor=request.user, user=person, persistent_id=device)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{count} authenticator(s) of {person.email} removed.")
    return redirect(safe_next(request, request.POST.get("back") or request.META.get("HTTP_REFERER"),
                              "mfa:admin-list"))


@roles_required(CONSOLE_READERS)
def org_settings(request: HttpRequest) -> HttpResponse:
    org = OrganizationSettings.load()
    initial = {
        "required_for_all": org.required_for_all, "allowed_methods": org.allowed_methods,
        "reverify_minutes": org.reverify_minutes, "phishing_resistant_only": org.phishing_resistant_only,
        "allowed_aaguids": "\n".join(org.allowed_aaguids),
    }
    can_write = request.user.role in ADMINS
    form = OrganizationSettingsForm(request.POST if can_write and request.method == "POST" else None, initial=initial)
    if request.method == "POST":
        if not can_write:
            return HttpResponse(status=403)
        if form.is_valid():
            try:
                services.org_settings_update(actor=request.user, **form.cleaned_data)
            except ConsoleError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, "MFA settings saved; they apply to the next decision.")
                return redirect("mfa:settings")
    return render(request, "mfa/settings.html", {
        "form": form, "can_write": can_write, "console_mfa_required": org.console_mfa_required,
        "can_change_console_mfa": request.user.role == Role.SUPER_ADMIN,
    })


@roles_required({Role.SUPER_ADMIN})
@sensitive_action("change whether the console asks for MFA")
@require_POST
def console_mfa_settings(request: HttpRequest) -> HttpResponse:
    """Console MFA for Super Admins, Security Admins and HR: on by default; only a Super Admin
    turns it off (audited)."""

    required = request.POST.get("console_mfa_required") == "on"
    console_mfa_setting_update(actor=request.user, required=required)
    messages.success(request, "The console asks privileged roles for MFA." if required
                     else "The console no longer asks privileged roles for MFA.")
    return redirect("mfa:settings")
