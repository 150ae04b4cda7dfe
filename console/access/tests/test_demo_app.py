"""The demo application ``./dev run`` puts behind nginx and Access: its nginx configuration (from
the same template the docs print) passes ``nginx -t``, its page shows who the token says you are
only when the token verifies, and the demo seed puts it in the launcher behind a step-up."""

from __future__ import annotations

import io
import subprocess
from datetime import timedelta
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.management import call_command
from django.utils import timezone

from console.access import tokens
from console.access.proxy.demo_app import make_app
from console.access.proxy.views import proxy_issuer
from console.testing.serving import NotInstalled, nginx_binary

pytestmark = pytest.mark.django_db


def test_the_demo_nginx_configuration_is_valid_and_protects_the_demo_host(tmp_path: Path, settings):
    settings.CONSOLE_URL = "http://localhost:8100"
    out = io.StringIO()
    call_command("demo_proxy_config", "--dir", str(tmp_path / "nginx"), "--port", "8188",
                 "--upstream", "http://127.0.0.1:8189", stdout=out)
    conf = Path(out.getvalue().strip())
    text = conf.read_text()
    assert "server_name app.localhost;" in text and "listen 127.0.0.1:8188;" in text
    assert "auth_request /.access/forward-auth;" in text and "proxy_pass http://127.0.0.1:8189;" in text
    # nginx reaches the console on loopback and asks it under the name it is configured with.
    assert "server 127.0.0.1:8100;" in text and "proxy_set_header Host localhost:8100;" in text
    assert "ssl_certificate" not in text and "/var/" not in text
    try:
        binary = nginx_binary()
    except NotInstalled as exc:
        pytest.fail(str(exc))
    checked = subprocess.run([binary, "-t", "-p", str(conf.parent), "-c", str(conf), "-e",
                              str(conf.parent / "error.log")], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_a_bad_upstream_is_refused_with_what_is_wrong(tmp_path: Path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--upstream must be an http"):
        call_command("demo_proxy_config", "--dir", str(tmp_path), "--port", "8188", "--upstream", "127.0.0.1:8189")
    assert not (tmp_path / "nginx.conf").exists()


def _get(path: str, query: str = "", **headers: str) -> str:
    environ: dict = {"PATH_INFO": path, "QUERY_STRING": query, "HTTP_HOST": "app.localhost:8188"}
    environ |= {"HTTP_" + k.upper(): v for k, v in headers.items()}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(make_app(proxy_issuer())(environ, lambda s, h: status.append(s)))
    assert status == ["200 OK"]
    return body.decode()


def _token(aud: str, *, email: str = "employee@acme.example", issuer: str | None = None) -> str:
    now = timezone.now()
    return tokens.issue(key=tokens.current_key(), issuer=issuer or proxy_issuer(), audience=aud,
                        subject="42", session_id="demo-session", expires_at=now + timedelta(minutes=5),
                        issued_at=now, claims={"email": email})


@pytest.fixture
def demo_app(super_admin):
    from console.access import services

    return services.application_create(actor=super_admin, name="Demo application", type="self_hosted",
                                       domain="app.localhost")


def test_the_page_shows_the_identity_and_the_verified_claims_and_the_round_trip(demo_app):
    page = _get("/orders/42", "view=full&tab=history", X_AUTH_REQUEST_EMAIL="employee@acme.example",
                X_AUTH_REQUEST_GROUPS="Engineering,Writers", X_ACCESS_JWT_ASSERTION=_token(demo_app.aud))
    assert "<td data-testid='x-auth-request-email'>employee@acme.example</td>" in page
    assert "Engineering,Writers" in page
    assert "The token verifies" in page and "&quot;email&quot;: &quot;employee@acme.example&quot;" in page
    assert f"&quot;{demo_app.aud}&quot;" in page
    assert "<td data-testid='path'>/orders/42</td>" in page
    assert "<td data-testid='query'>view=full&amp;tab=history</td>" in page


@pytest.mark.parametrize(("make", "why"), [
    (lambda app: "", "no token: the request did not come through Access"),
    (lambda app: _token("another-application"), "Audience doesn"),
    (lambda app: _token(app.aud, issuer="https://elsewhere.example"), "Invalid issuer"),
    (lambda app: _token(app.aud)[:-6] + "AAAAAA", "Signature verification failed"),
])
def test_a_missing_or_wrong_token_is_not_believed(demo_app, make, why):
    page = _get("/", X_AUTH_REQUEST_EMAIL="ceo@acme.example", X_ACCESS_JWT_ASSERTION=make(demo_app))
    assert "Not verified" in page and why in page
    assert "The token verifies" not in page and "data-testid='claims'" not in page


def test_the_demo_seed_puts_the_app_in_the_launcher_behind_an_authenticator_app_code(monkeypatch):
    from accounts.tests.factories import GroupFactory
    from console.access.demo import seed_access_demo
    from console.access.models import Application, ApplicationPolicy

    for name in ("Contractors", "Engineering", "Security", "Finance"):
        GroupFactory(name=name)
    monkeypatch.setenv("DEMO_APP_URL", "http://app.localhost:8188/")
    seed_access_demo()
    seed_access_demo()  # idempotent
    app = Application.objects.get(name="Demo application")
    assert (app.domain, app.launch_url, app.launcher_visible) == ("app.localhost", "http://app.localhost:8188/", True)
    [policy] = [ap.policy for ap in ApplicationPolicy.objects.filter(application=app)]
    assert policy.rules["require"] == [{"type": "mfa_method", "values": ["totp"], "max_age_minutes": 5}]
