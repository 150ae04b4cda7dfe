"""The demo still lets a newcomer in: its admins have a demo authenticator whose key and
current code the demo prints; never in production."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.demo import DEFAULT_PASSWORD
from mfa.demo import DEMO_TOTP_KEY, demo_secret, seed_mfa_demo
from mfa.models import TotpAuthenticator

pytestmark = pytest.mark.django_db


def test_the_demo_admins_get_in_with_what_the_demo_prints(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    out = io.StringIO()
    call_command("seed_demo", "--users", "20", stdout=out)
    printed = out.getvalue()
    assert demo_secret() in printed and "manage.py demo_totp admin@acme.example" in printed
    enrolled = set(TotpAuthenticator.objects.values_list("user__email", flat=True))
    # The admins for console MFA; the employee for the demo's step-up applications.
    assert enrolled == {"admin@acme.example", "security@acme.example", "hr@acme.example", "employee@acme.example"}
    browser = Client()
    browser.post("/accounts/login/", {"username": "admin@acme.example", "password": DEFAULT_PASSWORD})
    assert browser.get("/")["Location"] == "/mfa/verify/?next=/"
    code = io.StringIO()
    call_command("demo_totp", "admin@acme.example", "--uri", stdout=code)
    current, uri = code.getvalue().split()
    assert uri.startswith("otpauth://totp/") and f"secret={demo_secret()}" in uri
    assert browser.post("/mfa/verify/", {"method": "totp", "code": current, "next": "/"})["Location"] == "/"
    assert browser.get("/").status_code == 200
    # Idempotent: seeding again keeps the one authenticator each.
    call_command("seed_demo", "--users", "20", stdout=io.StringIO())
    assert TotpAuthenticator.objects.count() == 4


def test_demo_authenticators_and_codes_are_refused_in_production(settings, super_admin):
    TotpAuthenticator.objects.create(user=super_admin, name="Real phone", key="00" * 20, confirmed=True)
    with pytest.raises(CommandError, match="no demo authenticator"):
        call_command("demo_totp", super_admin.email, stdout=io.StringIO())  # never a real person's code
    settings.CONSOLE_ENV = "production"
    from mfa.demo import DemoRefused

    with pytest.raises(DemoRefused):
        seed_mfa_demo([super_admin.email])
    TotpAuthenticator.objects.filter(user=super_admin).update(key=DEMO_TOTP_KEY)
    with pytest.raises(CommandError, match="production"):
        call_command("demo_totp", super_admin.email, stdout=io.StringIO())
