from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.selectors import active_emails, get_user_for, group_names, user_groups
from console.access import decisions, engine, impact, policies, selectors, services
from console.access.api import issuer_for
from console.access.filters import ApplicationFilter, DeviceFilter, LogFilter, PolicyFilter, SessionFilter
from console.access.forms import (
    ApiTokenForm,
    ApplicationCreateForm,
    ApplicationForm,
    DeviceForm,
    PolicyForm,
    RuleFormSet,
    ScenarioForm,
    ServiceTokenForm,
    TesterForm,
    rule_rows,
    rules_from_formset,
)
from console.access.idp import selectors as idp_selectors
from console.access.launcher import console_session_hash, identity_of, tiles_for
from console.access.models import (
    AccessLogEntry,
    Application,
    Device,
    Policy,
)
from console.access.rules import SELECTOR_LABELS, VALUE_HELP
from console.access.services import validate_rules
from console.access.tester import what_if
from console.audit.selectors import audit_events_for_object
from console.core.csv_export import stream_csv
from console.core.errors import ConsoleError
from console.core.forms import add_service_error
from console.core.listing import build_listing
from console.core.permissions import roles_required
from console.core.redirects import safe_next
from console.core.request_context import client_ip
from console.core.roles import ADMINS, CONSOLE_READERS, EVERYONE
from mfa.console import sensitive_action
from mfa.models import Method

# --- Filters ----------------------------------------------------------------------------------


_form_error = add_service_error


# --- Applications -----------------------------------------------------------------------------

APP_SORTS = {"name": "name", "type": "type", "domain": "domain", "sessions": "active_sessions",
             "policies": "policy_count", "updated": "updated_at"}


@roles_required(CONSOLE_READERS)
def app_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.applications_for_list(), sorts=APP_SORTS, default_sort="name",
                            filterset_class=ApplicationFilter)
    template = "access/app_list.html#results" if request.htmx else "access/app_list.html"
    return render(request, template, {"listing": listing, "can_write": request.user.role in ADMINS})


@roles_required(CONSOLE_READERS)
def app_detail(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, app_id)
    attached = selectors.attachments_of(app)
    attached_ids = {a.policy_id for a in attached}
    evaluation = [p.id for p in policies.policy_set_for(app).policies] if attached else []
    return render(request, "access/app_detail.html", {
        "app": app, "attached": attached, "evaluation": evaluation,
        "available": selectors.policies_except(attached_ids),
        "sessions": selectors.active_sessions().filter(application=app)[:50],
        "session_count": selectors.active_sessions().filter(application=app).count(),
        "history": audit_events_for_object("access.application", str(app.pk)),
        "can_write": request.user.role in ADMINS,
        "oidc_client": idp_selectors.client_for_application(app) if app.type == Application.Type.SAAS else None,
    })


def _app_form_kwargs(form: ApplicationForm) -> dict:
    data = dict(form.cleaned_data)
    upload = data.pop("logo", None)
    data["logo"] = upload.read() if upload else None
    return data


@roles_required(ADMINS)
def app_create(request: HttpRequest) -> HttpResponse:
    form = ApplicationCreateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = _app_form_kwargs(form)
        data["policy_ids"] = [p.pk for p in data.pop("policies")]
        try:
            app = services.application_create(actor=request.user, **data)
        except ConsoleError as exc:
            _form_error(form, exc)
        else:
            count = len(data["policy_ids"])
            messages.success(request, f"{app.name} was created with {count} polic{'y' if count == 1 else 'ies'}."
                             if count else f"{app.name} was created. Attach policies to decide who may open it.")
            return redirect("access:app-detail", app_id=app.pk)
    return render(request, "access/app_form.html", {"form": form, "creating": True})


@roles_required(ADMINS)
def app_edit(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, app_id)
    initial = {f: getattr(app, f) for f in ("name", "type", "domain", "path", "url", "description",
                                              "launcher_visible", "mfa_mode", "mfa_methods",
                                              "mfa_reverify_minutes", "mfa_phishing_resistant")}
    initial["session_seconds"] = str(app.session_seconds)
    form = ApplicationForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.application_update(actor=request.user, application=app, **_app_form_kwargs(form))
        except ConsoleError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Changes saved.")
            return redirect("access:app-detail", app_id=app.pk)
    return render(request, "access/app_form.html", {"form": form, "app": app, "creating": False})


@roles_required(ADMINS)
@require_POST
def app_delete(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, app_id)
    services.application_delete(actor=request.user, application=app)
    messages.success(request, f"{app.name} was deleted and its sessions ended.")
    return redirect("access:app-list")


@roles_required(EVERYONE)
def app_logo(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.get_application_logo_for(request.user, app_id)
    if not app.logo:
        return HttpResponse(status=404)
    response = HttpResponse(bytes(app.logo), content_type=app.logo_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


def _policy_ids(app: Application) -> list[int]:
    return selectors.attached_policy_ids(app)


def _set_order(request: HttpRequest, app: Application, ids: list[int], message: str) -> HttpResponse:
    try:
        if services.application_set_policies(actor=request.user, application=app, policy_ids=ids):
            messages.success(request, message)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    return redirect("access:app-detail", app_id=app.pk)


@roles_required(ADMINS)
@require_POST
def app_policy_attach(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, app_id)
    try:
        policy = selectors.get_policy_for(request.user, int(request.POST.get("policy", "0")))
    except (Http404, ValueError):
        messages.error(request, "Pick a policy to attach.")
        return redirect("access:app-detail", app_id=app.pk)
    return _set_order(request, app, [*_policy_ids(app), policy.pk], f"{policy.name} now applies to {app.name}.")


@roles_required(ADMINS)
@require_POST
def app_policy_detach(request: HttpRequest, app_id: int, policy_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, app_id)
    ids = [i for i in _policy_ids(app) if i != policy_id]
    return _set_order(request, app, ids, "The policy no longer applies to this application.")


@roles_required(ADMINS)
@require_POST
def app_policy_move(request: HttpRequest, app_id: int, policy_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, app_id)
    ids = _policy_ids(app)
    if policy_id in ids:
        index = ids.index(policy_id)
        target = index - 1 if request.POST.get("direction") == "up" else index + 1
        if 0 <= target < len(ids):
            ids[index], ids[target] = ids[target], ids[index]
    return _set_order(request, app, ids, "Policy order saved.")


@roles_required(ADMINS)
@require_POST
def app_sessions_revoke(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.get_application_for(request.user, app_id)
    count = services.sessions_revoke_for_application(actor=request.user, application=app)
    messages.success(request, f"{count} session(s) of {app.name} were revoked.")
    return redirect("access:app-detail", app_id=app.pk)


# --- Policies ---------------------------------------------------------------------------------

POLICY_SORTS = {"name": "name", "action": "action", "apps": "app_count", "updated": "updated_at"}


@roles_required(CONSOLE_READERS)
def policy_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.policies_for_list(), sorts=POLICY_SORTS, default_sort="name",
                            filterset_class=PolicyFilter)
    template = "access/policy_list.html#results" if request.htmx else "access/policy_list.html"
    return render(request, template, {"listing": listing, "can_write": request.user.role in ADMINS})


def _describe(policy: Policy) -> list[tuple[str, str, bool]]:
    """(kind, label, ok) for each stored rule, as the engine would describe it."""
    groups = group_names()
    tokens = selectors.service_token_names()
    rows = []
    for kind in ("include", "require", "exclude"):
        for config in policy.rules.get(kind) or []:
            config = dict(config)
            if config.get("type") == "group":
                config["labels"] = [groups.get(int(v), f"deleted group {v}") for v in config.get("values", [])]
            if config.get("type") == "service_token":
                config["labels"] = [tokens.get(str(v), f"deleted token {v}") for v in config.get("values", [])]
            try:
                rows.append((kind, engine.compile_selector(config, require=kind == "require").label, True))
            except engine.SelectorError as exc:
                rows.append((kind, f"Invalid: {exc}", False))
    return rows


@roles_required(CONSOLE_READERS)
def policy_detail(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = selectors.get_policy_for(request.user, policy_id)
    return render(request, "access/policy_detail.html", {
        "policy": policy, "rules": _describe(policy),
        "applications": selectors.applications_using(policy),
        "history": audit_events_for_object("access.policy", str(policy.pk)),
        "can_write": request.user.role in ADMINS,
    })


def _policy_editor(request: HttpRequest, policy: Policy | None) -> HttpResponse:
    if policy is not None:
        initial = {"name": policy.name, "action": policy.action, "description": policy.description,
                   "session_seconds": "" if policy.session_seconds is None else str(policy.session_seconds),
                   "mfa_mode": policy.mfa_mode, "mfa_methods": policy.mfa_methods,
                   "mfa_reverify_minutes": policy.mfa_reverify_minutes,
                   "mfa_phishing_resistant": policy.mfa_phishing_resistant}
        rows = rule_rows(policy.rules)
    else:
        initial, rows = {"action": "allow"}, [{"kind": "include", "type": "email_domain"}]
    form = PolicyForm(request.POST or None, initial=initial)
    formset = RuleFormSet(request.POST or None, initial=rows, prefix="rules")
    if request.method == "POST":
        form_ok, formset_ok = form.is_valid(), formset.is_valid()
        if form_ok and formset_ok:
            try:
                rules = rules_from_formset(formset)
                data = form.cleaned_data
                if policy is None:
                    saved = services.policy_create(actor=request.user, rules=rules, **data)
                else:
                    saved = services.policy_update(actor=request.user, policy=policy, rules=rules, **data)
            except ConsoleError as exc:
                _form_error(form, exc)
            except Exception as exc:  # forms.ValidationError from the rows: errors are on them
                if exc.__class__.__name__ != "ValidationError":
                    raise
                form.add_error(None, "Some rules need fixing; see the messages next to them.")
            else:
                messages.success(request, f"Policy {saved.name} was saved.")
                return redirect("access:policy-detail", policy_id=saved.pk)
    return render(request, "access/policy_form.html", {
        "form": form, "formset": formset, "policy": policy, "creating": policy is None,
        "selector_labels": SELECTOR_LABELS, "value_help": VALUE_HELP,
        "applications": selectors.applications_by_name() if policy is None else [],
        "preview_form": ScenarioForm(prefix="preview"),
    })


@roles_required(ADMINS)
@require_POST
def policy_impact(request: HttpRequest) -> HttpResponse:
    """The editor's "Preview impact": the edited form, evaluated against everyone, not saved."""

    stored = None
    if request.POST.get("policy_id", "").isdigit():
        stored = selectors.get_policy_for(request.user, int(request.POST["policy_id"]))
    form = PolicyForm(request.POST)
    formset = RuleFormSet(request.POST, prefix="rules")
    scenario = ScenarioForm(request.POST, prefix="preview")
    context: dict = {"stored": stored}
    if not scenario.is_valid():
        context["problem"] = "Fix the request to preview for. " + " ".join(
            f"{scenario.fields[name].label}: {' '.join(errors)}" for name, errors in scenario.errors.items())
        return render(request, "access/policy_form.html#impact", context)
    if not (form.is_valid() and formset.is_valid()):
        context["problem"] = "Fix the highlighted fields first."
        return render(request, "access/policy_form.html#impact", context)
    try:
        rules = validate_rules(form.cleaned_data["action"], rules_from_formset(formset))
    except ConsoleError as exc:
        context["problem"] = exc.message
        return render(request, "access/policy_form.html#impact", context)
    except Exception as exc:  # the rows' own errors
        if exc.__class__.__name__ != "ValidationError":
            raise
        context["problem"] = "Some rules need fixing; save to see the messages next to them."
        return render(request, "access/policy_form.html#impact", context)
    proposed = Policy(pk=stored.pk if stored else 0, name=form.cleaned_data["name"] or "(this policy)",
                      action=form.cleaned_data["action"], rules=rules,
                      session_seconds=form.cleaned_data["session_seconds"],
                      **{f: form.cleaned_data[f] for f in ("mfa_mode", "mfa_methods", "mfa_reverify_minutes",
                                                          "mfa_phishing_resistant")})
    application = None
    if stored is None and request.POST.get("preview_application", "").isdigit():
        try:
            application = selectors.get_application_for(request.user, int(request.POST["preview_application"]))
        except Http404:
            application = None
    context["impacts"] = impact.preview(proposed=proposed, stored=stored, application=application,
                                        scenario=scenario.scenario())
    context["scenario"] = scenario.scenario().describe()
    context["new_without_app"] = stored is None and application is None
    return render(request, "access/policy_form.html#impact", context)


@roles_required(ADMINS)
def policy_create(request: HttpRequest) -> HttpResponse:
    return _policy_editor(request, None)


@roles_required(ADMINS)
def policy_edit(request: HttpRequest, policy_id: int) -> HttpResponse:
    return _policy_editor(request, selectors.get_policy_for(request.user, policy_id))


@roles_required(ADMINS)
@require_POST
def policy_delete(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = selectors.get_policy_for(request.user, policy_id)
    services.policy_delete(actor=request.user, policy=policy)
    messages.success(request, f"Policy {policy.name} was deleted.")
    return redirect("access:policy-list")


# --- Policy tester ----------------------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def tester(request: HttpRequest) -> HttpResponse:
    form = TesterForm(request.GET or None)
    result = None
    if request.GET and form.is_valid():
        data = form.cleaned_data
        result = what_if(
            data["application"], identity_provider=data["identity_provider"], user=data["email"],
            scenario=form.scenario(),
        )
    return render(request, "access/tester.html", {"form": form, "result": result, "people_emails": active_emails()})


# --- Sessions ---------------------------------------------------------------------------------

SESSION_SORTS = {"last_seen": "last_seen_at", "created": "created_at", "expires": "expires_at",
                 "user": "user__email", "application": "application__name"}


@roles_required(CONSOLE_READERS)
def session_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.active_sessions(), sorts=SESSION_SORTS, default_sort="-last_seen",
                            filterset_class=SessionFilter)
    user = None
    if request.GET.get("user", "").isdigit():
        try:
            user = get_user_for(request.user, int(request.GET["user"]))
        except Http404:
            user = None
    template = "access/session_list.html#results" if request.htmx else "access/session_list.html"
    return render(request, template, {"listing": listing, "filter_user": user,
                                      "can_write": request.user.role in ADMINS})


@roles_required(ADMINS)
@require_POST
def session_revoke(request: HttpRequest, session_id) -> HttpResponse:
    session = selectors.get_session_for(request.user, session_id)
    services.session_revoke(actor=request.user, session=session)
    messages.success(request, "The session was revoked; the next check by the proxy refuses it.")
    return redirect(safe_next(request, request.POST.get("next"), "access:session-list"))


@roles_required(ADMINS)
@require_POST
def user_sessions_revoke(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_user_for(request.user, user_id)
    count = services.sessions_revoke_for_user(actor=request.user, user=user)
    messages.success(request, f"{count} session(s) of {user.email} were revoked.")
    return redirect(f"/access/sessions/?user={user.pk}")


# --- Service tokens, API tokens ---------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def token_list(request: HttpRequest) -> HttpResponse:
    form = ServiceTokenForm()
    return render(request, "access/token_list.html", {
        "tokens": selectors.service_tokens(), "form": form, "can_write": request.user.role in ADMINS,
    })


def _create_with_secret(request: HttpRequest, form_class, create, template: str) -> HttpResponse:
    """Create a credential and show its secret once (never cached by the browser)."""
    form = form_class(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = create(actor=request.user, **form.cleaned_data)
        except ConsoleError as exc:
            _form_error(form, exc)
    response = render(request, f"access/{template}_created.html" if created else f"access/{template}_form.html",
                      {"form": form, "token": created, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


@roles_required(ADMINS)
@sensitive_action("create a service token")
def token_create(request: HttpRequest) -> HttpResponse:
    return _create_with_secret(request, ServiceTokenForm, services.service_token_create, "token")


@roles_required(ADMINS)
@sensitive_action("revoke a service token")
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = selectors.get_service_token_for(request.user, token_id)
    services.service_token_revoke(actor=request.user, token=token)
    messages.success(request, f"Service token {token.name} was revoked.")
    return redirect("access:token-list")


@roles_required(CONSOLE_READERS)
def apitoken_list(request: HttpRequest) -> HttpResponse:
    return render(request, "access/apitoken_list.html", {
        "tokens": selectors.api_tokens(), "can_write": request.user.role in ADMINS,
    })


@roles_required(ADMINS)
@sensitive_action("create an API token")
def apitoken_create(request: HttpRequest) -> HttpResponse:
    return _create_with_secret(request, ApiTokenForm, services.api_token_create, "apitoken")


@roles_required(ADMINS)
@sensitive_action("revoke an API token")
@require_POST
def apitoken_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = selectors.get_api_token_for(request.user, token_id)
    services.api_token_revoke(actor=request.user, token=token)
    messages.success(request, f"API token {token.name} was revoked.")
    return redirect("access:apitoken-list")


# --- Devices ----------------------------------------------------------------------------------

DEVICE_SORTS = {"name": "name", "owner": "user__email", "os": "os", "edr": "edr_score", "seen": "last_seen_at"}


@roles_required(CONSOLE_READERS)
def device_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.devices_for_list(), sorts=DEVICE_SORTS, default_sort="name",
                            filterset_class=DeviceFilter)
    template = "access/device_list.html#results" if request.htmx else "access/device_list.html"
    return render(request, template, {"listing": listing, "can_write": request.user.role in ADMINS})


def _device_editor(request: HttpRequest, device: Device | None) -> HttpResponse:
    initial = {}
    if device is not None:
        initial = {f: getattr(device, f) for f in ("device_id", "name", "os", "os_version", "managed",
                                                     "disk_encrypted", "edr_score")}
        initial["owner"] = device.user.email
    form = DeviceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        owner = data.pop("owner")
        try:
            services.device_save(actor=request.user, user=owner, device=device, **data)
        except ConsoleError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Device saved; its owner's sessions are checked again.")
            return redirect("access:device-list")
    return render(request, "access/device_form.html", {"form": form, "device": device,
                                                       "people_emails": active_emails()})


@roles_required(ADMINS)
def device_create(request: HttpRequest) -> HttpResponse:
    return _device_editor(request, None)


@roles_required(ADMINS)
def device_edit(request: HttpRequest, device_id: int) -> HttpResponse:
    return _device_editor(request, selectors.get_device_for(request.user, device_id))


@roles_required(ADMINS)
@require_POST
def device_delete(request: HttpRequest, device_id: int) -> HttpResponse:
    device = selectors.get_device_for(request.user, device_id)
    services.device_delete(actor=request.user, device=device)
    messages.success(request, f"{device.name} was removed.")
    return redirect("access:device-list")


# --- Authentication log -----------------------------------------------------------------------

LOG_SORTS = {"at": "at", "email": "email", "application": "application_name", "outcome": "outcome"}
LOG_COLUMNS = ["at", "email", "application_name", "outcome", "policy_name", "reason", "country", "ip", "method",
               "mfa_method", "source", "session_id"]


@roles_required(CONSOLE_READERS)
def log_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.access_log(), sorts=LOG_SORTS, default_sort="-at",
                            filterset_class=LogFilter, per_page=50)
    since = timezone.now() - timedelta(hours=24)
    summary = selectors.outcome_counts_since(since, [o.value for o in engine.Outcome])
    template = "access/log_list.html#results" if request.htmx else "access/log_list.html"
    return render(request, template, {"listing": listing, "summary": summary, "mfa_labels": dict(Method.choices)})


@roles_required(CONSOLE_READERS)
def log_export(request: HttpRequest) -> StreamingHttpResponse:
    filterset = LogFilter(request.GET, queryset=selectors.access_log(), request=request)
    queryset = filterset.qs if filterset.is_valid() else selectors.access_log().none()
    rows = (
        [e.at.isoformat() if c == "at" else getattr(e, c) for c in LOG_COLUMNS]
        for e in queryset.order_by("at", "id").iterator(chunk_size=2000)
    )
    return stream_csv(LOG_COLUMNS, rows, "access-log")


# --- App Launcher -----------------------------------------------------------------------------


@roles_required(EVERYONE)
def launcher(request: HttpRequest) -> HttpResponse:
    """The employee's home: the applications they may open and their account."""
    query = request.GET.get("q", "").strip()[:100]
    tiles = tiles_for(request, request.user, query)
    template = "access/launcher.html#tiles" if request.htmx else "access/launcher.html"
    return render(request, template, {"tiles": tiles, "query": query, "groups": user_groups(request.user)})


@roles_required(EVERYONE)
def launch(request: HttpRequest, app_id: int) -> HttpResponse:
    """Opening a tile: decided and logged like any other request, then sent on its way."""
    app = selectors.get_launchable_application_for(request.user, app_id)
    idp, amr = identity_of(request)
    outcome = decisions.decide(
        application=app, source=AccessLogEntry.Source.LAUNCHER, issuer=issuer_for(request), user=request.user,
        ip=client_ip(request), identity_provider=idp, auth_methods=amr,
        console_session_hash=console_session_hash(request),
    )
    if outcome.decision.outcome in (engine.Outcome.ALLOW, engine.Outcome.BYPASS) and app.launch_url:
        return redirect(app.launch_url)
    status = 200 if outcome.decision.outcome == engine.Outcome.CHALLENGE else 403

    return render(request, "access/launch_refused.html", {
        "app": app, "outcome": outcome, "method_labels": dict(Method.choices),
    }, status=status)
