"""The provider's endpoints (authorization, token, userinfo, discovery, JWKS, logout) on
django-oauth-toolkit's views, and the console pages that manage its clients."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from oauth2_provider import views as dot
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauthlib.common import add_params_to_uri

from console.access import selectors as access_selectors
from console.access.idp import keys, selectors, services, signin
from console.access.idp.filters import ClientFilter
from console.access.idp.forms import MachineClientForm, SaasClientEditForm, SaasClientForm
from console.access.idp.validator import ConsoleValidator
from console.core import ratelimit
from console.core.errors import ConsoleError
from console.core.forms import add_service_error
from console.core.listing import build_listing
from console.core.permissions import public, roles_required
from console.core.request_context import client_ip
from console.core.roles import ADMINS, CONSOLE_READERS
from mfa.console import sensitive_action

# --- Protocol endpoints -------------------------------------------------------------------------


class AuthorizeView(dot.AuthorizationView):
    """The authorization endpoint. Once django-oauth-toolkit has checked the request (client,
    redirect URI, PKCE, scopes), the Access engine decides the signed-in person's sign-in to the
    client's application: a challenge sends the browser to step up and back here, a refusal shows
    why and hands the application ``access_denied``, an allow issues the code."""

    template_name = "idp/authorize_error.html"

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        prompt = set(request.GET.get("prompt", "").split())
        if prompt & {"login", "create"}:
            return super().get(request, *args, **kwargs)  # the library sends the person to sign in first
        try:
            _, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        client = selectors.client_by_client_id(credentials["client_id"])
        if client is None or client.application is None:
            return render(request, "idp/authorize_error.html", {
                "error": {"error": "unauthorized_client", "description": "This client does not sign people in."},
            }, status=400)
        gate = signin.decide(request, client.application)
        if gate.action == "step_up" and "none" in prompt:
            # OpenID Connect Core 3.1.2.6: no page may be shown; the application asks again without prompt=none.
            return self._back_to_client(client, credentials, "interaction_required", gate.reason)
        if gate.action == "step_up":
            return redirect(gate.step_up_url)
        if gate.action == "deny":
            return render(request, "idp/refused.html", {
                "app": client.application, "reason": gate.reason,
                "back": self._error_uri(credentials, "access_denied", gate.reason),
            }, status=403)
        self.console_sign_in = gate.sign_in
        return super().get(request, *args, **kwargs)

    def _error_uri(self, credentials: dict, error: str, description: str) -> str:
        """The client's redirect URI (registered: validated above) carrying an error response."""
        params = [("error", error), ("error_description", description[:200])]
        if credentials.get("state"):
            params.append(("state", credentials["state"]))
        params.append(("iss", self.get_validator_class()().get_oidc_issuer_endpoint(self.request)))
        return add_params_to_uri(credentials["redirect_uri"], params)

    def _back_to_client(self, client, credentials: dict, error: str, description: str) -> HttpResponse:
        return self.redirect(self._error_uri(credentials, error, description), client.oauth)

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Every client skips the consent form: a POST here could only skip the Access decision.
        return HttpResponseNotAllowed(["GET"])

    def create_authorization_response(self, request, scopes, credentials, allow):
        credentials = dict(credentials, console_sign_in=getattr(self, "console_sign_in", None) or {})
        return super().create_authorization_response(request, scopes, credentials, allow)

    def redirect(self, redirect_to: str, application) -> HttpResponse:
        """Back to the application through a page rather than a 302: after a sign-in or step-up
        form, the browser applies the console's ``form-action 'self'`` to every redirect of that
        navigation, and would refuse one to the application."""
        allowed = OAuth2ResponseRedirect(redirect_to, application.get_allowed_schemes()
                                                  if application else ["https"])
        response = render(self.request, "idp/continue.html", {"target": allowed.url, "application": application})
        response["Cache-Control"] = "no-store"
        return response


# Public: the view itself sends visitors who are not signed in to the console's sign-in (or, for
# prompt=none, answers the application login_required, which a sign-in redirect would break).
authorize = public(AuthorizeView.as_view())


class DiscoveryView(dot.ConnectDiscoveryInfoView):
    """``/.well-known/openid-configuration``, with the signing algorithm the provider keys use."""

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data["id_token_signing_alg_values_supported"] = [keys.ALGORITHM]
        data["claims_supported"] = sorted(set(data.get("claims_supported", [])) | set(ConsoleValidator.oidc_claim_scope)
                                          | {"iss", "aud", "exp", "iat", "auth_time", "nonce", "sid"})
        data["grant_types_supported"] = ["authorization_code", "refresh_token", "client_credentials"]
        data["code_challenge_methods_supported"] = ["S256"]
        return JsonResponse(data, headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"})


discovery = public(DiscoveryView.as_view())
server_metadata = public(dot.OAuthServerMetadataView.as_view())
# Failed client authentications per address before the token endpoint refuses that address for a
# minute (client secrets are long and random; this keeps guessing and hashing work bounded).
TOKEN_AUTH_FAILURES_PER_MINUTE = 30


class TokenView(dot.TokenView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        address = client_ip(request) or "unknown"
        refused_key = f"ratelimit:idp-token-refused:{address}"
        if cache.get(refused_key):
            return JsonResponse({"error": "invalid_request", "error_description":
                                 "too many failed client authentications from this address; wait a minute"},
                                status=429, headers={"Retry-After": "60", "Cache-Control": "no-store"})
        response = super().post(request, *args, **kwargs)
        if response.status_code == 401 and not ratelimit.hit(
                "idp-token-auth", address, limit=TOKEN_AUTH_FAILURES_PER_MINUTE, window=60):
            cache.set(refused_key, 1, timeout=60)
        return response


token = public(TokenView.as_view())
revoke_token = public(dot.RevokeTokenView.as_view())
userinfo = public(dot.UserInfoView.as_view())


class LogoutView(dot.RPInitiatedLogoutView):
    template_name = "idp/logout_confirm.html"


logout = public(LogoutView.as_view())


@public
def jwks(request: HttpRequest) -> HttpResponse:
    return JsonResponse(keys.jwks(), headers={"Access-Control-Allow-Origin": "*",
                                              "Cache-Control": "public, max-age=300"})


# --- Console pages: a SaaS application's OpenID Connect credentials -------------------------------


def _secret_page(request: HttpRequest, client, secret: str, *, rotated: bool = False) -> HttpResponse:
    response = render(request, "idp/secret.html", {"client": client, "secret": secret, "rotated": rotated})
    response["Cache-Control"] = "no-store"
    return response


@roles_required(ADMINS)
@sensitive_action("create OpenID Connect credentials")
def saas_create(request: HttpRequest, app_id: int) -> HttpResponse:
    app = access_selectors.get_application_for(request.user, app_id)
    form = SaasClientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            client, secret = services.saas_client_create(actor=request.user, application=app, **form.cleaned_data)
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            return _secret_page(request, client, secret)
    return render(request, "idp/saas_form.html", {"form": form, "app": app, "creating": True})


@roles_required(ADMINS)
def saas_edit(request: HttpRequest, app_id: int) -> HttpResponse:
    app = access_selectors.get_application_for(request.user, app_id)
    client = selectors.client_for_application(app)
    if client is None:
        return redirect("idp:saas-create", app_id=app.pk)
    initial = {"redirect_uris": "\n".join(client.oauth.redirect_uris.split()),
               "post_logout_redirect_uris": "\n".join(client.oauth.post_logout_redirect_uris.split()),
               "require_pkce": client.require_pkce}
    form = SaasClientEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.saas_client_update(actor=request.user, client=client, **form.cleaned_data)
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "OpenID Connect settings saved.")
            return redirect("access:app-detail", app_id=app.pk)
    return render(request, "idp/saas_form.html", {"form": form, "app": app, "client": client, "creating": False})


# --- Console pages: every client --------------------------------------------------------------------


CLIENT_SORTS = {"name": "name", "kind": "kind", "created": "created_at"}


@roles_required(CONSOLE_READERS)
def client_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.clients(), sorts=CLIENT_SORTS, default_sort="name",
                            filterset_class=ClientFilter)
    template = "idp/client_list.html#results" if request.htmx else "idp/client_list.html"
    return render(request, template, {
        "listing": listing, "can_write": request.user.role in ADMINS, "keys": keys.jwks()["keys"],
    })


@roles_required(ADMINS)
@sensitive_action("create an OAuth client")
def machine_create(request: HttpRequest) -> HttpResponse:
    form = MachineClientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            client, secret = services.machine_client_create(actor=request.user, **form.cleaned_data)
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            return _secret_page(request, client, secret)
    return render(request, "idp/machine_form.html", {"form": form})


@roles_required(ADMINS)
@sensitive_action("rotate an OAuth client secret")
@require_POST
def client_rotate(request: HttpRequest, client_pk: int) -> HttpResponse:
    client = selectors.get_client_for(request.user, client_pk)
    try:
        secret = services.client_secret_rotate(actor=request.user, client=client)
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return redirect("idp:client-list")
    return _secret_page(request, client, secret, rotated=True)


@roles_required(ADMINS)
@sensitive_action("delete an OAuth client")
@require_POST
def client_delete(request: HttpRequest, client_pk: int) -> HttpResponse:
    client = selectors.get_client_for(request.user, client_pk)
    app = client.application
    services.client_delete(actor=request.user, client=client)
    messages.success(request, f"{client.name}'s OAuth credentials were deleted; its tokens no longer work.")
    return redirect("access:app-detail", app_id=app.pk) if app else redirect("idp:client-list")


@roles_required(ADMINS)
@sensitive_action("rotate the ID token signing key")
@require_POST
def key_rotate(request: HttpRequest) -> HttpResponse:
    key = services.provider_key_rotate(actor=request.user)
    messages.success(request, f"ID tokens are now signed with key {key.kid}; the previous key stays published "
                              "for two days.")
    return redirect("idp:client-list")
