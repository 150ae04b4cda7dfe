from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import idp_trust, selectors
from accounts.filters import GroupFilter, MemberFilter, UserFilter
from accounts.forms import (
    AddMemberForm,
    GroupForm,
    IdentityProviderForm,
    SignInForm,
    UserCreateForm,
    UserForm,
    UserImportForm,
)
from accounts.models import IdentityProvider, IdentityProviderLink, User
from accounts.oidc import (
    ProviderAuthenticationCallbackView,
    ProviderAuthenticationRequestView,
    test_connection,
)
from accounts.onboarding.selectors import latest_verified_at, onboarding_case_of
from accounts.services import groups, identity_providers, people, people_import, rights, sign_in
from console.access.selectors import active_sessions, devices_of
from console.audit.selectors import audit_events_by_actor, audit_events_for_object
from console.core import ratelimit
from console.core.errors import ConsoleError
from console.core.forms import add_service_error
from console.core.listing import build_listing
from console.core.permissions import public, roles_required
from console.core.request_context import client_ip
from console.core.roles import ADMINS, CONSOLE_READERS, PEOPLE_READERS, PEOPLE_WRITERS, Role
from mfa import selectors as mfa_selectors
from mfa import services as mfa_services
from mfa.console import browser_session, needs_reverification, reverify_response, sensitive_action
from mfa.selectors import authenticators_of
from mfa.services import recently_verified

# --- Sign-in ----------------------------------------------------------------------------------


class _LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
    authentication_form = SignInForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["providers"] = selectors.sign_in_providers()
        return context


@public
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        allowed = ratelimit.hit(
            "login-ip", client_ip(request) or "unknown",
            limit=settings.LOGIN_RATE_LIMIT_PER_IP, window=settings.LOGIN_RATE_LIMIT_WINDOW,
        )
        if not allowed:
            response = render(
                request, "registration/locked_out.html",
                {"reason": "Too many sign-in attempts from your network. Wait a few minutes."},
                status=429,
            )
            response["Retry-After"] = str(settings.LOGIN_RATE_LIMIT_WINDOW)
            return response
    return _LoginView.as_view()(request)


@public
def logout_view(request: HttpRequest) -> HttpResponse:
    return auth_views.LogoutView.as_view()(request)


oidc_start = public(ProviderAuthenticationRequestView.as_view())
oidc_callback = public(ProviderAuthenticationCallbackView.as_view())


def _verify_code_for(request: HttpRequest, person: User, code: str) -> bool:
    """A code from the person's authenticator app, or one of their backup codes, checked with
    the MFA services' rate limits and audit. The person is not signed in yet: the check is made
    for them, in this browser's session."""

    browser = browser_session(request, user=person)
    digits = (code or "").replace(" ", "")
    if len(digits) == 6 and digits.isdigit() and mfa_selectors.has_totp(person, confirmed_only=True):
        return mfa_services.verify_totp(browser, code=digits)
    return mfa_services.verify_backup_code(browser, code=code)


@public
def oidc_link(request: HttpRequest) -> HttpResponse:
    """The first sign-in through a provider for an account it is not linked to yet: the person
    proves the account is theirs (signed in to it, with a fresh MFA verification when they have
    an authenticator, or with a code from their authenticator), then the link is stored."""

    pending = idp_trust.pending_of(request)
    if pending is None:
        messages.error(request, "No provider sign-in is waiting to be linked (it lasts 10 minutes). "
                                "Sign in with the provider again.")
        return redirect("accounts:login")
    provider, person = pending.provider, pending.user
    viewer = request.user
    if viewer.is_authenticated and viewer.pk != person.pk:
        idp_trust.pending_clear(request)
        messages.error(request, f"You are signed in as {viewer.email}, but {provider.name} answered for another "
                                f"account. Sign out, then sign in with {provider.name} again.")
        return redirect(settings.LOGIN_REDIRECT_URL)
    signed_in = viewer.is_authenticated
    needs_mfa = signed_in and bool(authenticators_of(person)) and not recently_verified(request.session)
    next_url = request.session.get("oidc_login_next") or reverse(settings.LOGIN_REDIRECT_URL)
    error = None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "confirm" and signed_in and not needs_mfa:
                identity_providers.idp_link_create(actor=person, provider=provider, user=person,
                                                   subject=pending.subject, proof=IdentityProviderLink.Proof.SESSION)
                idp_trust.pending_clear(request)
                messages.success(request, f"{provider.name} is linked to your account: next time, sign in with it.")
                return redirect(next_url)
            if action == "code" and not signed_in:
                if _verify_code_for(request, person, request.POST.get("code", "")):
                    identity_providers.idp_link_create(actor=person, provider=provider, user=person,
                                                       subject=pending.subject, proof=IdentityProviderLink.Proof.MFA)
                    idp_trust.pending_clear(request)
                    request.oidc_provider_slug = provider.slug  # type: ignore[attr-defined]
                    request.oidc_amr = pending.amr  # type: ignore[attr-defined]
                    login(request, person, backend="accounts.oidc.ProviderOIDCBackend")
                    messages.success(request, f"{provider.name} is linked to your account.")
                    return redirect(next_url)
                error = "That code is not right (or was already used)."
        except ConsoleError as exc:
            error = exc.message
    return render(request, "accounts/oidc_link.html", {
        "provider": provider, "email": pending.email, "signed_in": signed_in, "needs_mfa": needs_mfa,
        "error": error, "link_url": reverse("accounts:oidc-link"),
    })


_form_error = add_service_error


def _assignable_roles(actor: User, person: User | None = None) -> list[str]:
    """The roles the form offers: those the rights rules let ``actor`` give ``person``."""
    current = person.role if person is not None else None
    roles = rights.assignable_roles(actor, current_role=current)
    return roles if current is None or current in roles else [current, *roles]


# --- Users ------------------------------------------------------------------------------------

USER_SORTS = {
    "name": "full_name", "email": "email", "role": "role", "country": "country",
    "joined": "date_joined", "last_login": "last_login", "groups": "group_count",
}


@roles_required(PEOPLE_READERS)
def user_list(request: HttpRequest) -> HttpResponse:
    sorts = USER_SORTS if selectors.sees_security_events(request.user) else {
        k: v for k, v in USER_SORTS.items() if k != "last_login"
    }
    listing = build_listing(
        request, selectors.users_for_list(), sorts=sorts, default_sort="name", filterset_class=UserFilter,
    )
    template = "accounts/user_list.html#results" if request.htmx else "accounts/user_list.html"
    return render(request, template, {
        "listing": listing, "can_write": request.user.role in PEOPLE_WRITERS,
        "show_security": selectors.sees_security_events(request.user),
    })


@roles_required(PEOPLE_READERS)
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    person = selectors.get_user_for(request.user, user_id)

    # HR sees the profile, groups and onboarding status; sign-ins, MFA, identity verifications
    # and the audit trail are security events for admins and auditors.
    security = selectors.sees_security_events(request.user)
    return render(request, "accounts/user_detail.html", {
        "identity_verified_at": latest_verified_at(person.pk) if security else None,
        "onboarding_case": onboarding_case_of(person),
        "authenticators": authenticators_of(person) if security else [],
        "access_sessions": active_sessions().filter(user=person).count() if security else 0,
        "devices": devices_of(person) if security else [],
        "can_revoke": request.user.role in ADMINS,
        "can_revoke_mfa": request.user.role in ADMINS and _outranks(request.user, person),
        "show_access": security,
        "show_security": security,
        "person": person,
        "groups": selectors.user_groups(person),
        "reports": selectors.user_reports(person),
        "history": selectors.user_history_for(request.user, person),
        "activity": audit_events_by_actor(person.pk) if security else [],
        "can_write": request.user.role in PEOPLE_WRITERS and _can_manage(request.user, person),
        "can_unlock": request.user.role in ADMINS and _outranks(request.user, person),
        "locked_out": selectors.is_locked_out(person) if security else False,
    })


def _outranks(actor: User, person: User) -> bool:
    try:
        rights.check_rank(actor, target_role=person.role, what="change")
    except ConsoleError:
        return False
    return True


def _can_manage(actor: User, person: User) -> bool:
    try:
        rights.check_can_assign(actor, current_role=person.role, new_role=person.role)
    except ConsoleError:
        return False
    return True


@roles_required(PEOPLE_WRITERS)
def user_create(request: HttpRequest) -> HttpResponse:
    roles = _assignable_roles(request.user)
    form = UserCreateForm(request.POST or None, allowed_roles=roles, initial={"role": Role.EMPLOYEE})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["role"] != Role.EMPLOYEE and needs_reverification(request):
            return reverify_response(request, "grant a role")
        try:
            person = people.user_create(
                actor=request.user, email=data["email"], full_name=data["full_name"],
                role=data["role"], title=data["title"], country=data["country"],
                manager=data["manager"], password=data["password"] or None,
            )
        except ConsoleError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"{person.full_name} was added.")
            return redirect("accounts:user-detail", user_id=person.pk)
    return render(request, "accounts/user_form.html", {
        "form": form, "creating": True, "people_emails": selectors.active_emails(),
    })


@roles_required(PEOPLE_WRITERS)
def user_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    person = selectors.get_user_for(request.user, user_id)
    if not _can_manage(request.user, person):
        messages.error(request, "Your role cannot change this person.")
        return redirect("accounts:user-detail", user_id=person.pk)
    initial = {
        "email": person.email, "full_name": person.full_name, "role": person.role,
        "title": person.title, "country": person.country,
        "manager": person.manager.email if person.manager else "",
    }
    form = UserForm(request.POST or None, initial=initial, allowed_roles=_assignable_roles(request.user, person))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["role"] != person.role and needs_reverification(request):
            return reverify_response(request, "change someone's role")
        try:
            people.user_update(
                actor=request.user, user=person, email=data["email"], full_name=data["full_name"],
                role=data["role"], title=data["title"], country=data["country"],
                manager=data["manager"],
            )
        except ConsoleError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Changes saved.")
            return redirect("accounts:user-detail", user_id=person.pk)
    return render(request, "accounts/user_form.html", {
        "form": form, "person": person, "creating": False, "people_emails": selectors.active_emails(),
    })


@roles_required(PEOPLE_WRITERS)
@require_POST
def user_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    person = selectors.get_user_for(request.user, user_id)
    try:
        people.user_deactivate(actor=request.user, user=person)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{person.full_name} was deactivated and can no longer sign in.")
    return redirect("accounts:user-detail", user_id=person.pk)


@roles_required(PEOPLE_WRITERS)
@require_POST
def user_reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    person = selectors.get_user_for(request.user, user_id)
    try:
        people.user_reactivate(actor=request.user, user=person)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{person.full_name} was reactivated.")
    return redirect("accounts:user-detail", user_id=person.pk)


@roles_required(ADMINS)
@require_POST
def user_unlock(request: HttpRequest, user_id: int) -> HttpResponse:
    person = selectors.get_user_for(request.user, user_id)
    try:
        sign_in.user_unlock(actor=request.user, user=person)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Sign-in lockouts for {person.email} were cleared.")
    return redirect("accounts:user-detail", user_id=person.pk)


@roles_required(PEOPLE_WRITERS)
@sensitive_action("import people (an import can grant roles)")
def user_import(request: HttpRequest) -> HttpResponse:
    form = UserImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = people_import.users_import_csv(
                actor=request.user, data=upload.read(), dry_run=form.cleaned_data["dry_run"],
            )
        except ConsoleError as exc:
            _form_error(form, exc)
        else:
            if not report.dry_run and report.applied:
                messages.success(
                    request, f"Import done: {report.created} created, {report.updated} updated."
                )
    return render(request, "accounts/user_import.html", {
        "form": form, "report": report, "columns": people_import.IMPORT_COLUMNS,
    })


@roles_required(PEOPLE_READERS)
def user_import_sample(request: HttpRequest) -> HttpResponse:
    sample = (
        "email,full_name,role,title,country,manager_email,groups\n"
        "ada@example.com,Ada Lovelace,Employee,Engineer,GB,,Engineering\n"
        "grace@example.com,Grace Hopper,Employee,Engineering Manager,US,,Engineering;Security\n"
    )
    response = HttpResponse(sample, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="users-sample.csv"'
    return response


# --- Groups -----------------------------------------------------------------------------------

GROUP_SORTS = {"name": "name", "members": "member_count", "created": "created_at"}
MEMBER_SORTS = {"name": "full_name", "email": "email", "role": "role"}


@roles_required(PEOPLE_READERS)
def group_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(
        request, selectors.groups_for_list(), sorts=GROUP_SORTS, default_sort="name",
        filterset_class=GroupFilter,
    )
    template = "accounts/group_list.html#results" if request.htmx else "accounts/group_list.html"
    return render(request, template, {"listing": listing, "can_write": request.user.role in ADMINS})


@roles_required(PEOPLE_READERS)
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    group = selectors.get_group_for(request.user, group_id)
    listing = build_listing(
        request, selectors.group_members(group), sorts=MEMBER_SORTS, default_sort="name",
        filterset_class=MemberFilter,
    )
    template = "accounts/group_detail.html#results" if request.htmx else "accounts/group_detail.html"
    return render(request, template, {
        "group": group, "listing": listing, "can_write": request.user.role in ADMINS,
        "add_form": AddMemberForm(), "people_emails": selectors.active_emails(),
        "history": audit_events_for_object("accounts.group", str(group.pk)),
        "plain_history": not selectors.sees_security_events(request.user),
    })


@roles_required(ADMINS)
def group_create(request: HttpRequest) -> HttpResponse:
    form = GroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = groups.group_create(actor=request.user, **form.cleaned_data)
        except ConsoleError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"Group {group.name} was created.")
            return redirect("accounts:group-detail", group_id=group.pk)
    return render(request, "accounts/group_form.html", {"form": form, "creating": True})


@roles_required(ADMINS)
def group_edit(request: HttpRequest, group_id: int) -> HttpResponse:
    group = selectors.get_group_for(request.user, group_id)
    form = GroupForm(request.POST or None, initial={"name": group.name, "description": group.description})
    if request.method == "POST" and form.is_valid():
        try:
            groups.group_update(actor=request.user, group=group, **form.cleaned_data)
        except ConsoleError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Changes saved.")
            return redirect("accounts:group-detail", group_id=group.pk)
    return render(request, "accounts/group_form.html", {"form": form, "group": group, "creating": False})


@roles_required(ADMINS)
@require_POST
def group_delete(request: HttpRequest, group_id: int) -> HttpResponse:
    group = selectors.get_group_for(request.user, group_id)
    name = group.name
    groups.group_delete(actor=request.user, group=group)
    messages.success(request, f"Group {name} was deleted.")
    return redirect("accounts:group-list")


@roles_required(ADMINS)
@require_POST
def group_add_member(request: HttpRequest, group_id: int) -> HttpResponse:
    group = selectors.get_group_for(request.user, group_id)
    form = AddMemberForm(request.POST)
    if form.is_valid():
        person = form.cleaned_data["email"]
        try:
            added = groups.group_add_member(actor=request.user, group=group, user=person)
        except ConsoleError as exc:
            messages.error(request, exc.message)
        else:
            if added:
                messages.success(request, f"{person.full_name} was added to {group.name}.")
            else:
                messages.info(request, f"{person.full_name} is already in {group.name}.")
    else:
        messages.error(request, " ".join(form.errors.get("email", ["Enter an e-mail address."])))
    return redirect("accounts:group-detail", group_id=group.pk)


@roles_required(ADMINS)
@require_POST
def group_remove_member(request: HttpRequest, group_id: int, user_id: int) -> HttpResponse:
    group = selectors.get_group_for(request.user, group_id)
    person = selectors.get_user_for(request.user, user_id)
    try:
        removed = groups.group_remove_member(actor=request.user, group=group, user=person)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        if removed:
            messages.success(request, f"{person.full_name} was removed from {group.name}.")
    return redirect("accounts:group-detail", group_id=group.pk)


# --- Identity providers -----------------------------------------------------------------------


def _callback_urls(request: HttpRequest) -> dict[str, str]:
    return {
        "callback_url": request.build_absolute_uri(reverse("accounts:oidc-callback")),
        "verification_callback_url": request.build_absolute_uri(reverse("onboarding:callback")),
    }


@roles_required(CONSOLE_READERS)
def idp_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/idp_list.html", {
        "providers": selectors.identity_providers(), "can_write": request.user.role in ADMINS,
        **_callback_urls(request),
    })


@roles_required(CONSOLE_READERS)
def idp_detail(request: HttpRequest, idp_id: int) -> HttpResponse:
    idp = selectors.get_idp_for(request.user, idp_id)
    return render(request, "accounts/idp_detail.html", {
        "idp": idp, "can_write": request.user.role in ADMINS, **_callback_urls(request),
        "links": selectors.idp_links(idp), "can_unlink": request.user.role == Role.SUPER_ADMIN,
        "history": audit_events_for_object("accounts.identityprovider", str(idp.pk)),
    })


@roles_required(ADMINS)
@sensitive_action("add an identity provider")
def idp_create(request: HttpRequest) -> HttpResponse:
    can_change_trust = request.user.role == Role.SUPER_ADMIN
    form = IdentityProviderForm(
        request.POST or None, can_change_trust=can_change_trust,
        initial=None if can_change_trust else {"kind": IdentityProvider.Kind.VERIFICATION},
    )
    if request.method == "POST" and form.is_valid():
        try:
            idp = identity_providers.idp_create(actor=request.user, **form.cleaned_data)
        except ConsoleError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"{idp.name} was added. Its discovery document was read.")
            return redirect("accounts:idp-detail", idp_id=idp.pk)
    return render(request, "accounts/idp_form.html", {
        "form": form, "creating": True, **_callback_urls(request),
    })


@roles_required(ADMINS)
@sensitive_action("change an identity provider")
def idp_edit(request: HttpRequest, idp_id: int) -> HttpResponse:
    idp = selectors.get_idp_for(request.user, idp_id)
    initial = {
        "name": idp.name, "kind": idp.kind, "issuer": idp.issuer, "client_id": idp.client_id,
        "scopes": idp.scopes, "email_claim": idp.email_claim, "enabled": idp.enabled,
        "create_users": idp.create_users, "verified_claim": idp.verified_claim,
        "assurance_claim": idp.assurance_claim, "assurance_levels": idp.assurance_levels,
        "min_assurance_level": idp.min_assurance_level,
        "allowed_domains": "\n".join(idp.allowed_domains), "allowed_emails": "\n".join(idp.allowed_emails),
        "barred_roles": idp.barred_roles,
    }
    form = IdentityProviderForm(
        request.POST or None, initial=initial, editing=True,
        can_change_trust=request.user.role == Role.SUPER_ADMIN, primary=idp.kind == IdentityProvider.Kind.PRIMARY,
    )
    if request.method == "POST" and form.is_valid():
        try:
            identity_providers.idp_update(actor=request.user, idp=idp, **form.cleaned_data)
        except ConsoleError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Changes saved.")
            return redirect("accounts:idp-detail", idp_id=idp.pk)
    return render(request, "accounts/idp_form.html", {
        "form": form, "idp": idp, "creating": False, **_callback_urls(request),
    })


@roles_required(ADMINS)
@sensitive_action("delete an identity provider")
@require_POST
def idp_delete(request: HttpRequest, idp_id: int) -> HttpResponse:
    idp = selectors.get_idp_for(request.user, idp_id)
    name = idp.name
    identity_providers.idp_delete(actor=request.user, idp=idp)
    messages.success(request, f"{name} was deleted.")
    return redirect("accounts:idp-list")


@roles_required(ADMINS)
@require_POST
def idp_test(request: HttpRequest, idp_id: int) -> HttpResponse:
    idp = selectors.get_idp_for(request.user, idp_id)
    results = test_connection(idp)
    return render(request, "accounts/idp_detail.html#test-results", {
        "idp": idp, "results": results, "all_ok": all(r.ok for r in results),
    })


@roles_required(ADMINS)
@require_POST
def idp_refresh(request: HttpRequest, idp_id: int) -> HttpResponse:
    idp = selectors.get_idp_for(request.user, idp_id)
    try:
        identity_providers.idp_refresh_discovery(actor=request.user, idp=idp)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Endpoints were read again from the discovery document.")
    return redirect("accounts:idp-detail", idp_id=idp.pk)


@roles_required({Role.SUPER_ADMIN})
@require_POST
def idp_unlink(request: HttpRequest, idp_id: int, link_id: int) -> HttpResponse:
    idp = selectors.get_idp_for(request.user, idp_id)
    link = selectors.get_idp_link_for(request.user, idp, link_id)
    email = link.user.email
    identity_providers.idp_link_delete(actor=request.user, link=link)
    messages.success(request, f"{email} is no longer linked to {idp.name}; their next sign-in through it needs "
                              "their proof again.")
    return redirect("accounts:idp-detail", idp_id=idp.pk)
