"""The proxy path's views.

* ``forward_auth`` — called by the reverse proxy for every request to a protected application
  (``/api/v1/access/forward-auth``); answers 200 with identity headers, 401 (nginx) or 302 to
  sign in, or 403 with the block page.
* ``sign_in`` — a console page: decides for the signed-in person (sending them through MFA when
  a policy asks) and hands a one-time code to the application's callback.
* ``callback``, ``logout``, ``blocked`` — reached on the application's own host under
  ``/.access/``, which the proxy routes to the console.
* ``sign_out_everywhere`` / ``user_sign_out_everywhere`` — the person's and the admin's."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

import jwt
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as console_logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.selectors import get_user_for
from console.access import decisions, engine, hotcache, logbuffer, policies, tokens
from console.access import selectors as access_selectors
from console.access.launcher import console_session_hash, identity_of
from console.access.models import AccessLogEntry, Application
from console.access.proxy import configs, selectors, services, trust
from console.access.proxy.forms import ConnectForm
from console.core import apijson
from console.core.errors import ConsoleError
from console.core.permissions import public, roles_required
from console.core.request_context import client_ip
from console.core.roles import ADMINS, CONSOLE_READERS, EVERYONE
from mfa.models import Method

log = logging.getLogger(__name__)

SOURCE = AccessLogEntry.Source.PROXY
# What the upstream receives about the person; the proxy configurations set (or clear) each one
# from this answer, so a value the client sent never reaches the application.
EMAIL_HEADER = "X-Auth-Request-Email"
USER_HEADER = "X-Auth-Request-User"
GROUPS_HEADER = "X-Auth-Request-Groups"
TOKEN_HEADER = "X-Access-Jwt-Assertion"  # noqa: S105 - a header name
IDENTITY_HEADERS = (EMAIL_HEADER, USER_HEADER, GROUPS_HEADER, TOKEN_HEADER)
# Service auth through the proxy: the two headers a machine sends.
CLIENT_ID_META, CLIENT_SECRET_META = "HTTP_ACCESS_CLIENT_ID", "HTTP_ACCESS_CLIENT_SECRET"
# nginx's auth_request accepts only 2xx, 401 and 403: its configuration asks for a 401 (with the
# sign-in address in Location) instead of a redirect.
MODE_META = "HTTP_X_FORWARD_AUTH_MODE"
CALLBACK_PATH = "/.access/callback"


def proxy_issuer() -> str:
    """The ``iss`` of the tokens the proxy path signs and checks (one value for every host)."""
    return hotcache.config().issuer or settings.CONSOLE_URL.rstrip("/")


def _plain(status: int, text: str) -> HttpResponse:
    response = HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def _sign_in_url(original: trust.Original) -> str:
    return f"{settings.CONSOLE_URL.rstrip('/')}{reverse('access:proxy-sign-in')}?{urlencode({'rd': original.url})}"


def _to_sign_in(request: HttpRequest, original: trust.Original) -> HttpResponse:
    status = 401 if request.META.get(MODE_META, "").strip().lower() == "nginx" else 302
    response = _plain(status, "Sign in to continue.")
    response["Location"] = _sign_in_url(original)
    return response


def _block_page(application: Application | None, status: int = 403) -> HttpResponse:
    html = render_to_string("access/proxy/blocked.html", {
        "app": application, "launcher_url": f"{settings.CONSOLE_URL.rstrip('/')}{reverse('console:launcher')}",
    })
    response = HttpResponse(html, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _identity_answer(outcome: decisions.Outcome | None) -> HttpResponse:
    """200 with every identity header present (empty when there is none), so a proxy that
    copies them overwrites whatever the client sent."""
    response = _plain(200, "ok")
    values = dict.fromkeys(IDENTITY_HEADERS, "")
    if outcome is not None and outcome.decision.outcome == engine.Outcome.ALLOW:
        values[TOKEN_HEADER] = outcome.token
        if outcome.user is not None:
            person = decisions.person_by_id(outcome.user.pk)
            values[EMAIL_HEADER] = outcome.user.email
            values[USER_HEADER] = str(outcome.user.pk)
            values[GROUPS_HEADER] = ",".join(selectors.group_names(person.groups if person else ()))
    for name, value in values.items():
        response[name] = value
    return response


def _anonymous_bypass(application: Application, original: trust.Original) -> bool:
    """Whether a Bypass policy lets this request through with no identity at all (health
    checks, public paths); logged like any decision."""
    hotcache.ensure_fresh()
    request = decisions.request_context(ip=original.client_ip)
    decision = engine.decide(policies.policy_set_for(application, synced=True).policies, None, request)
    if decision.outcome != engine.Outcome.BYPASS:
        return False
    logbuffer.record(SimpleNamespace(
        at=request.now, user_id=None, email="", application_id=application.pk, application_name=application.name,
        outcome=decision.outcome.value, policy_id=decision.policy.id, policy_name=decision.policy.name,
        reason=decision.reason[:300], challenge=[], ip=str(request.ip) if request.ip else None,
        country=request.country, method="", source=SOURCE, session_id=None,
    ))
    return True


def _decide(request: HttpRequest, original: trust.Original) -> HttpResponse:
    application = selectors.application_at(original.hostname, original.path)
    if application is None:
        decisions.log_denial(application=None, source=SOURCE, ip=decisions.parse_ip(original.client_ip),
                             reason=f"Denied: no application for {original.hostname}{original.path[:200]}.")
        return _block_page(None)
    services.sighting_record(application=application, proxy_address=request.META.get("REMOTE_ADDR"),
                             host=original.host)
    client_id = request.META.get(CLIENT_ID_META, "").strip()[:120]
    secret = request.META.get(CLIENT_SECRET_META, "").strip()[:200]
    service_token = None
    if client_id or secret:
        service_token = decisions.authenticate_service_token(client_id, secret)
        if service_token is None:
            decisions.log_denial(application=application, source=SOURCE, method="service token",
                                 reason="Denied: the service token is unknown, expired or revoked.",
                                 email=f"service token {client_id}", ip=decisions.parse_ip(original.client_ip))
            return _block_page(application)
    token = request.COOKIES.get(settings.ACCESS_PROXY_COOKIE_NAME, "")[:4096]
    if not token and service_token is None:
        if _anonymous_bypass(application, original):
            return _identity_answer(None)
        return _to_sign_in(request, original)
    outcome = decisions.decide(application=application, source=SOURCE, issuer=proxy_issuer(), token=token,
                               ip=original.client_ip, service_token=service_token)
    result = outcome.decision.outcome
    if result in (engine.Outcome.ALLOW, engine.Outcome.BYPASS):
        return _identity_answer(outcome)
    if outcome.problem and _anonymous_bypass(application, original):
        return _identity_answer(None)
    if result == engine.Outcome.CHALLENGE or (outcome.problem and service_token is None):
        return _to_sign_in(request, original)
    return _block_page(application)


# Envoy (and Traefik) ask with the original request's method: every method an application may see.
FORWARDED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "PROPPATCH",
                     "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH")


def _method_refused(request: HttpRequest, message: str) -> HttpResponse:
    return _plain(405, f"Forward-auth refused: {message}.")


@csrf_exempt
@public
@apijson.allow_methods(FORWARDED_METHODS, _method_refused)
def forward_auth(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Fails closed: whatever goes wrong is a 403."""
    fallback = ""
    if request.path_info.startswith(f"{reverse('api:access-forward-auth')}/"):
        # Envoy appends the original path (and query) to the endpoint's.
        query = request.META.get("QUERY_STRING", "")
        fallback = "/" + rest + (f"?{query}" if query else "")
    try:
        original = trust.original_request(request, uri_fallback=fallback)
    except trust.NotTrusted as exc:
        return _plain(403, f"Forward-auth refused: {exc}.")
    try:
        return _decide(request, original)
    except Exception:  # fail closed, whatever went wrong
        log.exception("forward-auth failed closed for %s", original.url[:300])
        return _plain(403, "Access could not decide this request; it was refused.")


# --- The sign-in round trip -------------------------------------------------------------------


class _BadTarget(ConsoleError):
    pass


def _target(rd: str) -> tuple[Application, str, str, str]:
    """(application, scheme, host, path and query) of the address a person was going to. Only an
    address that belongs to an Access application is followed (no open redirect)."""
    parts = urlsplit(rd or "")
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        raise _BadTarget("This link does not say which application you were opening.")
    try:
        host = trust.clean_host(parts.netloc)
    except trust.NotTrusted:
        raise _BadTarget("This link names no valid host.") from None
    path = "/" + (parts.path or "/").lstrip("/")  # never "//host": that would leave the site
    uri = path + (f"?{parts.query}" if parts.query else "")
    hostname = trust.Original(parts.scheme, host, "GET", uri, None).hostname
    application = selectors.application_at(hostname, path)
    if application is None:
        raise _BadTarget(f"No application protected by Access answers at {hostname}.")
    return application, parts.scheme, host, uri


def _step_up(request: HttpRequest, challenge: tuple) -> HttpResponse:
    here = request.get_full_path()
    for needed in challenge:
        if needed.kind == "mfa":
            return redirect(f"{reverse('mfa:verify')}?{urlencode({'methods': ','.join(needed.methods), 'next': here})}")
    return redirect(f"{reverse('onboarding:verify')}?{urlencode({'next': here})}")


def _continue(request: HttpRequest, application: Application, url: str) -> HttpResponse:
    """On to the application's host. A page rather than a redirect: after the sign-in or MFA form,
    the console's CSP (``form-action 'self'``) stops redirects that leave the console."""
    response = render(request, "access/proxy/continue.html", {"app": application, "url": url})
    return _no_store(response)


@roles_required(EVERYONE)
def sign_in(request: HttpRequest) -> HttpResponse:
    """Where the proxy sends a browser without a valid application cookie. Signed in (the
    console's sign-in runs first), the person is decided for like at the App Launcher."""
    try:
        application, scheme, host, uri = _target(request.GET.get("rd", ""))
    except _BadTarget as exc:
        return render(request, "access/proxy/problem.html", {"message": exc.message}, status=404)
    idp, amr = identity_of(request)
    outcome = decisions.decide(
        application=application, source=SOURCE, issuer=proxy_issuer(), user=request.user, ip=client_ip(request),
        identity_provider=idp, auth_methods=amr, console_session_hash=console_session_hash(request),
    )
    result = outcome.decision.outcome
    if result == engine.Outcome.ALLOW:
        code = services.sign_in_code_create(
            application=application, session_id=outcome.session.pk, host=host, token=outcome.token,
            token_expires_at=outcome.expires_at, return_to=uri,
        )
        return _continue(request, application, f"{scheme}://{host}{CALLBACK_PATH}?{urlencode({'code': code})}")
    if result == engine.Outcome.BYPASS:
        return _continue(request, application, f"{scheme}://{host}{uri}")
    if result == engine.Outcome.CHALLENGE:
        return _step_up(request, outcome.decision.challenge)
    return render(request, "access/launch_refused.html", {
        "app": application, "outcome": outcome, "method_labels": dict(Method.choices),
    }, status=403)


def _app_host(request: HttpRequest) -> str:
    """The application host a ``/.access/`` request came to, as its trusted proxy says."""
    return trust.original_request(request).host


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@public
def callback(request: HttpRequest) -> HttpResponse:
    """On the application's host: exchange the one-time code for the application cookie, then go
    where the person was going (path and query kept)."""
    try:
        host = _app_host(request)
    except trust.NotTrusted as exc:
        return _plain(exc.status, f"Refused: {exc}.")
    try:
        redeemed = services.sign_in_code_redeem(code=request.GET.get("code", ""), host=host)
    except services.CodeRefused as exc:
        return _no_store(HttpResponse(render_to_string("access/proxy/standalone_problem.html", {
            "message": exc.message}), status=400))
    response = HttpResponseRedirect(redeemed.return_to)
    max_age = max(0, int((redeemed.token_expires_at - timezone.now()).total_seconds()))
    response.set_cookie(settings.ACCESS_PROXY_COOKIE_NAME, redeemed.token, max_age=max_age, path="/",
                        secure=True, httponly=True, samesite="Lax")
    return _no_store(response)


def _session_of_cookie(token: str) -> tuple[Application, dict] | None:
    """The application and claims of a valid application cookie, or ``None``."""
    try:
        audiences = jwt.decode(token, options={"verify_signature": False}).get("aud") or []
        application = decisions.application_by_aud(audiences[0] if isinstance(audiences, list) else audiences)
        if application is None:
            return None
        return application, tokens.verify(token, audience=application.aud, issuer=proxy_issuer())
    except (jwt.InvalidTokenError, IndexError, KeyError, TypeError, ValueError):
        return None


@public
def logout(request: HttpRequest) -> HttpResponse:
    """On the application's host: end this browser's session of the application and clear its
    cookie. The console session (and other applications) stay signed in."""
    try:
        _app_host(request)
    except trust.NotTrusted as exc:
        return _plain(exc.status, f"Refused: {exc}.")
    found = _session_of_cookie(request.COOKIES.get(settings.ACCESS_PROXY_COOKIE_NAME, "")[:4096])
    application = None
    if found is not None:
        application, claims = found
        person = decisions.person_by_id(int(claims["sub"])) if claims.get("type") == "app" else None
        if person is not None:
            services.app_sign_out(user=person.user, session_id=claims["jti"], application=application)
    response = HttpResponse(render_to_string("access/proxy/signed_out.html", {
        "app": application, "launcher_url": f"{settings.CONSOLE_URL.rstrip('/')}{reverse('console:launcher')}",
    }))
    response.delete_cookie(settings.ACCESS_PROXY_COOKIE_NAME, path="/", samesite="Lax")
    return _no_store(response)


@public
def blocked(request: HttpRequest) -> HttpResponse:
    """On the application's host: the block page (nginx shows it after a 403 from forward-auth)."""
    try:
        original = trust.original_request(request)
    except trust.NotTrusted:
        return _block_page(None)
    return _block_page(selectors.application_at(original.hostname, "/"))


# --- Signing out everywhere -------------------------------------------------------------------


@roles_required(EVERYONE)
@require_POST
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    """The person, from the App Launcher: every application and console session ends, this one too."""
    services.sign_out_everywhere(actor=request.user, user=request.user)
    console_logout(request)
    return redirect("accounts:login")


@roles_required(ADMINS)
@require_POST
def user_sign_out_everywhere(request: HttpRequest, user_id: int) -> HttpResponse:
    """An admin, for a person: every application session, console session and token ends."""
    user = get_user_for(request.user, user_id)
    try:
        counts = services.sign_out_everywhere(actor=request.user, user=user)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{user.email} was signed out everywhere: {counts['application_sessions']} "
                                  f"application session(s) and {counts['console_sessions']} console session(s) ended.")
    return redirect(f"{reverse('access:session-list')}?user={user.pk}")


# --- Connect your proxy -----------------------------------------------------------------------


@roles_required(CONSOLE_READERS)
def connect(request: HttpRequest, app_id: int) -> HttpResponse:
    """Ready-to-paste configurations for the application's hostname, and whether the console has
    seen its proxy yet (the check polls while the page is open)."""
    application = access_selectors.get_application_for(request.user, app_id)
    sighting = selectors.sighting_of(application)
    if request.htmx:
        return render(request, "access/proxy/connect.html#seen", {"app": application, "sighting": sighting})
    form = ConnectForm(request.GET or None, initial={"console": settings.CONSOLE_URL})
    upstream, console = "http://127.0.0.1:3000", settings.CONSOLE_URL
    if form.is_valid():
        upstream, console = form.cleaned_data["upstream"] or upstream, form.cleaned_data["console"] or console
    rendered = {}
    if application.domain:
        site = configs.Site(host=application.domain, upstream=upstream, console=console)
        rendered = {configs.LABELS[kind]: text for kind, text in configs.for_site(site).items()}
    return render(request, "access/proxy/connect.html", {
        "app": application, "sighting": sighting, "form": form, "configs": rendered,
        "trusted": settings.ACCESS_TRUSTED_PROXIES,
    })
