"""The provider's protocol as a relying party sees it: discovery, the authorization code flow
with PKCE, the ID token and its claims checked against the JWKS, userinfo and refusals."""

from __future__ import annotations

import base64

import jwt
import pytest

from console.access.idp.tests.conftest import REDIRECT, authorize_url, continue_target, pkce_pair, query_of

pytestmark = pytest.mark.django_db


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _code_for(client, saas, challenge: str, **kwargs) -> dict[str, str]:
    response = client.get(authorize_url(saas.client.oauth.client_id, challenge=challenge, **kwargs))
    assert response.status_code == 200, response.content[:500]
    target = continue_target(response)
    assert target.startswith(REDIRECT)
    return query_of(target)


def _token(client, saas, code: str, verifier: str | None, redirect_uri: str = REDIRECT):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier:
        data["code_verifier"] = verifier
    return client.post("/oauth/token/", data, HTTP_AUTHORIZATION=_basic(saas.client.oauth.client_id, saas.secret))


def test_discovery_names_the_endpoints_and_keys(client) -> None:
    document = client.get("/.well-known/openid-configuration").json()
    issuer = "http://testserver"
    assert document["issuer"] == issuer
    assert document["authorization_endpoint"] == f"{issuer}/oauth/authorize/"
    assert document["token_endpoint"] == f"{issuer}/oauth/token/"
    assert document["userinfo_endpoint"] == f"{issuer}/oauth/userinfo/"
    assert document["jwks_uri"] == f"{issuer}/oauth/jwks/"
    assert document["end_session_endpoint"] == f"{issuer}/oauth/logout/"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert {"openid", "email", "profile", "groups"} <= set(document["scopes_supported"])
    assert {"email", "name", "groups", "amr"} <= set(document["claims_supported"])
    keys = client.get(document["jwks_uri"].removeprefix(issuer)).json()["keys"]
    assert [k["alg"] for k in keys] == ["RS256"] and all("d" not in k for k in keys)


def test_code_flow_with_pkce_gives_an_id_token_with_the_person_claims(
    client, make_saas, employee, make_user
) -> None:
    from accounts.tests.factories import GroupFactory
    from console.access.models import AccessLogEntry, AccessSession

    GroupFactory(name="Finance").members.add(employee)
    saas = make_saas()
    client.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    verifier, challenge = pkce_pair()
    answer = _code_for(client, saas, challenge)
    assert answer["state"] == "st-1" and answer["iss"] == "http://testserver"
    client.logout()  # the token request comes from the application's server, not the browser
    tokens = _token(client, saas, answer["code"], verifier)
    assert tokens.status_code == 200, tokens.content
    body = tokens.json()
    jwks = jwt.PyJWKSet.from_dict(client.get("/oauth/jwks/").json())
    header = jwt.get_unverified_header(body["id_token"])
    claims = jwt.decode(body["id_token"], jwks[header["kid"]].key, algorithms=["RS256"],
                        audience=saas.client.oauth.client_id, issuer="http://testserver")
    assert claims["sub"] == str(employee.pk)
    assert claims["email"] == "emp@corp.example" and claims["name"] == "Emil Employee"
    assert claims["groups"] == ["Finance"] and claims["nonce"] == "n-1"
    assert claims["amr"] == ["pwd"]
    session = AccessSession.objects.get(application=saas.app, user=employee)
    assert claims["sid"] == str(session.pk)
    log = AccessLogEntry.objects.get(application_id=saas.app.pk)
    assert (log.outcome, log.source, log.email) == ("allow", "oidc", "emp@corp.example")
    # The access token reads the same person at the userinfo endpoint.
    info = client.get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
    assert info["email"] == "emp@corp.example" and info["groups"] == ["Finance"]
    # A code works once.
    assert _token(client, saas, answer["code"], verifier).json()["error"] == "invalid_grant"


def test_pkce_is_enforced(client, make_saas, employee) -> None:
    saas = make_saas()
    client.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    # No code challenge: refused back to the application, no code.
    response = client.get(authorize_url(saas.client.oauth.client_id, challenge=None))
    refused = query_of(continue_target(response))
    assert refused["error"] == "invalid_request" and "code" not in refused
    assert "code challenge" in refused["error_description"].lower()
    # A code bound to a challenge is refused without the verifier, or with another one.
    _, challenge = pkce_pair()
    code = _code_for(client, saas, challenge)["code"]
    assert _token(client, saas, code, None).json()["error"] == "invalid_request"
    code = _code_for(client, saas, challenge)["code"]
    assert _token(client, saas, code, pkce_pair()[0]).json()["error"] == "invalid_grant"


def test_wrong_redirect_uri_is_never_followed(client, make_saas, employee) -> None:
    saas = make_saas()
    client.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    _, challenge = pkce_pair()
    response = client.get(authorize_url(saas.client.oauth.client_id, challenge=challenge,
                                        redirect_uri="https://evil.example/callback"))
    assert response.status_code == 400
    assert b"evil.example" not in response.content and b'data-testid="oidc-error"' in response.content
    # Nor a registered one at the token endpoint that the code was not issued for.
    verifier, challenge = pkce_pair()
    code = _code_for(client, saas, challenge)["code"]
    assert _token(client, saas, code, verifier, redirect_uri="https://saas.example/other").json()["error"] \
        == "invalid_request"


def test_wrong_client_secret_gets_no_token(client, make_saas, employee) -> None:
    saas = make_saas()
    client.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    verifier, challenge = pkce_pair()
    code = _code_for(client, saas, challenge)["code"]
    response = client.post("/oauth/token/", {"grant_type": "authorization_code", "code": code,
                                             "redirect_uri": REDIRECT, "code_verifier": verifier},
                           HTTP_AUTHORIZATION=_basic(saas.client.oauth.client_id, "not-the-secret"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_a_blocking_policy_refuses_with_access_denied(client, make_saas, employee) -> None:
    from console.access.models import AccessLogEntry, AccessSession

    saas = make_saas(action="block")
    client.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    _, challenge = pkce_pair()
    response = client.get(authorize_url(saas.client.oauth.client_id, challenge=challenge))
    assert response.status_code == 403
    assert b"You cannot sign in to Expenses" in response.content
    back = query_of(continue_target_refused(response))
    assert back["error"] == "access_denied" and back["state"] == "st-1" and "code" not in back
    assert not AccessSession.objects.filter(application=saas.app).exists()
    assert AccessLogEntry.objects.get(application_id=saas.app.pk).outcome == "deny"


def continue_target_refused(response) -> str:
    import re
    from html import unescape

    return unescape(re.search(r'href="([^"]+)" data-testid="oidc-refused-back"', response.content.decode()).group(1))


def test_mfa_rule_sends_the_person_to_step_up_and_back(client, make_saas, employee) -> None:
    saas = make_saas(mfa_mode="custom", mfa_methods=["totp"], mfa_reverify_minutes=60)
    client.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    _, challenge = pkce_pair()
    url = authorize_url(saas.client.oauth.client_id, challenge=challenge)
    response = client.get(url)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/mfa/verify/?methods=totp,backup_code&next=")
    assert query_of(location)["next"] == url


def test_signing_in_is_required_first(client, make_saas) -> None:
    saas = make_saas()
    _, challenge = pkce_pair()
    url = authorize_url(saas.client.oauth.client_id, challenge=challenge)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert query_of(response["Location"])["next"] == url


def test_rp_initiated_logout_ends_the_console_session(client, make_saas, employee) -> None:
    saas = make_saas()
    client.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    verifier, challenge = pkce_pair()
    code = _code_for(client, saas, challenge)["code"]
    id_token = _token(client, saas, code, verifier).json()["id_token"]
    response = client.get("/oauth/logout/", {"id_token_hint": id_token,
                                             "post_logout_redirect_uri": "https://saas.example/bye", "state": "x"})
    assert response.status_code == 302 and response["Location"] == "https://saas.example/bye?state=x"
    assert client.get("/launcher/").status_code == 302  # signed out of the console
    # An address the application did not register is refused.
    response = client.get("/oauth/logout/", {"id_token_hint": id_token,
                                             "post_logout_redirect_uri": "https://evil.example/"})
    assert response.status_code == 400


def test_guessing_client_secrets_is_cut_off(client, make_saas, settings) -> None:
    from console.access.idp import views

    saas = make_saas()
    wrong = _basic(saas.client.oauth.client_id, "guess")
    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT}
    answers = [client.post("/oauth/token/", data, HTTP_AUTHORIZATION=wrong).status_code
               for _ in range(views.TOKEN_AUTH_FAILURES_PER_MINUTE + 2)]
    assert answers[0] == 401 and answers[-1] == 429
    # Even the right secret is refused from that address for the minute.
    right = client.post("/oauth/token/", data, HTTP_AUTHORIZATION=_basic(saas.client.oauth.client_id, saas.secret))
    assert right.status_code == 429 and right["Retry-After"] == "60"


def test_prompt_none_never_shows_a_page(client, make_saas, employee) -> None:
    saas = make_saas(mfa_mode="custom", mfa_methods=["totp"], mfa_reverify_minutes=60)
    _, challenge = pkce_pair()
    url = authorize_url(saas.client.oauth.client_id, challenge=challenge) + "&prompt=none"
    # Not signed in: login_required back to the application.
    answer = client.get(url)
    assert answer.status_code in (200, 302)
    target = answer["Location"] if answer.status_code == 302 else continue_target(answer)
    assert target.startswith(REDIRECT) and query_of(target)["error"] == "login_required"
    # Signed in, but the application's MFA rule needs a step-up: interaction_required.
    client.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    refused = query_of(continue_target(client.get(url)))
    assert refused["error"] == "interaction_required" and refused["state"] == "st-1" and "code" not in refused
