"""The web gateway's console pages: each person's setup (proxy address, the organization CA and
how to install it, their gateway credentials) and the admins' CA page; the PAC file browsers
read to find the proxy."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.core.errors import ConsoleError
from console.core.forms import add_service_error
from console.core.permissions import public, roles_required
from console.core.roles import ADMINS, CONSOLE_READERS, EVERYONE
from shadow_ai.gateway import ca, credentials


class CredentialForm(forms.Form):
    name = forms.CharField(max_length=80, label="Device or browser",
                           help_text="So you can tell your credentials apart, e.g. \u201cWork laptop, Firefox\u201d.")


def _setup_context(request: HttpRequest) -> dict:
    trusted = ca.trusted()
    signing = ca.signing(trusted)
    return {
        "proxy_address": settings.GATEWAY_PROXY_ADDRESS,
        "pac_url": request.build_absolute_uri(reverse("shadow_ai:gateway-pac")),
        "trusted": trusted, "signing": signing,
        "credentials": credentials.credentials_of(request.user),
    }


@roles_required(EVERYONE)
def gateway_mine(request: HttpRequest) -> HttpResponse:
    """Everything a person needs to browse through the gateway; POST makes a credential, shown once."""
    form = CredentialForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            credential, token = credentials.gateway_credential_create(actor=request.user,
                                                                      name=form.cleaned_data["name"])
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            return render(request, "shadow_ai/gateway/credential_created.html", {
                "credential": credential, "token": token, "proxy_address": settings.GATEWAY_PROXY_ADDRESS})
    return render(request, "shadow_ai/gateway/mine.html", {**_setup_context(request), "form": form})


@roles_required(EVERYONE)
@require_POST
def gateway_credential_revoke(request: HttpRequest, gateway_credential_id: int) -> HttpResponse:
    credential = credentials.get_credential_for(request.user, gateway_credential_id)
    try:
        if credentials.gateway_credential_revoke(actor=request.user, credential=credential):
            messages.success(request, f"Gateway credential {credential.name} was revoked.")
    except ConsoleError as exc:
        messages.error(request, exc.message)
    return redirect("shadow_ai:gateway-mine")


@roles_required(EVERYONE)
def gateway_ca_bundle(request: HttpRequest) -> HttpResponse:
    """Every CA devices must trust now, PEM (Linux, Firefox, most tools)."""
    response = HttpResponse(ca.bundle_pem(), content_type="application/x-pem-file")
    response["Content-Disposition"] = 'attachment; filename="gateway-ca.pem"'
    return response


@roles_required(EVERYONE)
def gateway_ca_certificate(request: HttpRequest, gateway_ca_id: int) -> HttpResponse:
    """One CA certificate, DER (Windows and macOS open a .crt with their certificate installer)."""
    found = ca.get_ca_for(request.user, gateway_ca_id)
    response = HttpResponse(ca.der(found.certificate_pem), content_type="application/x-x509-ca-cert")
    response["Content-Disposition"] = f'attachment; filename="gateway-ca-{found.pk}.crt"'
    return response


@public
def gateway_pac(request: HttpRequest) -> HttpResponse:
    """The proxy auto-configuration file: everything through the gateway, except the console
    itself and plain host names (intranet)."""
    console_host = urlsplit(settings.CONSOLE_URL).hostname or ""
    body = (
        "function FindProxyForURL(url, host) {\n"
        f"  if (isPlainHostName(host) || host === {console_host!r} || host === 'localhost') {{ return 'DIRECT'; }}\n"
        f"  return 'PROXY {settings.GATEWAY_PROXY_ADDRESS}';\n"
        "}\n"
    ).replace("'", '"')
    response = HttpResponse(body, content_type="application/x-ns-proxy-autoconfig")
    response["Cache-Control"] = "max-age=300"
    return response


@roles_required(CONSOLE_READERS)
def gateway_admin(request: HttpRequest) -> HttpResponse:
    """The organization CAs (signing, next, previous) and their rotation."""
    rows = ca.all_cas()
    signing = ca.signing([r for r in rows if r.retired_at is None and r.not_after > ca.timezone.now()])
    return render(request, "shadow_ai/gateway/admin.html", {
        "cas": [(row, ca.state(row, signing.pk if signing else None)) for row in rows],
        "can_write": request.user.role in ADMINS, "overlap_days": str(settings.GATEWAY_CA_OVERLAP_DAYS),
        "proxy_address": settings.GATEWAY_PROXY_ADDRESS, "fail_mode": settings.GATEWAY_FAIL_MODE,
    })


@roles_required(ADMINS)
@require_POST
def gateway_ca_rotate(request: HttpRequest) -> HttpResponse:
    try:
        created = ca.ca_rotate(actor=request.user)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"A new CA was made; gateways sign with it from {created.signs_from:%Y-%m-%d %H:%M} "
                                  "UTC. Have people install it before then.")
    return redirect("shadow_ai:gateway-admin")
