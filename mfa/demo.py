"""Demo authenticators: the console asks its admins for MFA, so the demo (``./dev run``) gives
the demo logins of those roles an authenticator app with a fixed, published key, so that a
newcomer still gets in with what ``./dev run`` prints. Never in production."""

from __future__ import annotations

import base64
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.oath import TOTP

from accounts.models import User
from console.core import demo
from console.core.roles import Role
from mfa.console import CONSOLE_MFA_ROLES
from mfa.models import TotpAuthenticator

# Published on purpose (README, the demo's output): it protects demo logins only.
DEMO_TOTP_KEY = "5a65726f54727573742d64656d6f2d746f74702d31"  # hex of b"ZeroTrust-demo-totp-1"
DEMO_DEVICE_NAME = "Demo authenticator"
ISSUER = "Zero Trust Console (demo)"


class DemoRefused(Exception):
    """Demo authenticators exist only outside production."""


def _check_environment() -> None:
    if settings.CONSOLE_ENV == "production":
        raise DemoRefused("Demo authenticators are refused when CONSOLE_ENV=production.")


def demo_secret() -> str:
    """The demo key as an authenticator app takes it (base32)."""
    return base64.b32encode(bytes.fromhex(DEMO_TOTP_KEY)).decode().rstrip("=")


def otpauth_uri(email: str) -> str:
    return (f"otpauth://totp/{quote(ISSUER)}:{quote(email)}?secret={demo_secret()}&issuer={quote(ISSUER)}"
            "&digits=6&period=30")


@transaction.atomic
def seed_mfa_demo(emails: list[str]) -> list[str]:
    """Give each of these demo logins whose role must pass console MFA the demo authenticator
    (kept if they already have one). Returns the e-mails that have it."""
    _check_environment()
    enrolled = []
    for user in User.objects.filter(email__in=emails, role__in=CONSOLE_MFA_ROLES).order_by("email"):
        device, _ = TotpAuthenticator.objects.get_or_create(
            user=user, defaults={"name": DEMO_DEVICE_NAME, "key": DEMO_TOTP_KEY, "confirmed": True})
        if device.key == DEMO_TOTP_KEY:
            enrolled.append(user.email)
    return enrolled


def current_code(email: str) -> str:
    """The code a demo login types now (only for the demo authenticator, never anyone else's)."""
    _check_environment()
    device = TotpAuthenticator.objects.filter(user__email__iexact=email).first()
    if device is None or device.key != DEMO_TOTP_KEY:  # the key is encrypted at rest: compared here
        raise DemoRefused(f"{email} has no demo authenticator.")
    totp = TOTP(device.bin_key, step=30, t0=0, digits=6, drift=device.drift)
    totp.time = timezone.now().timestamp()
    return f"{totp.token():06d}"


@transaction.atomic
def seed_step_up_demo(emails: list[str]) -> list[str]:
    """Give the demo's employee logins the demo authenticator app too, so that a newcomer can
    pass the App Launcher's step-up for an application that asks for one (``console.access.demo``)
    with the code ``demo_totp`` prints. Returns the e-mails that have it."""
    _check_environment()
    enrolled = []
    for user in User.objects.filter(email__in=emails, role=Role.EMPLOYEE).order_by("email"):
        device, _ = TotpAuthenticator.objects.get_or_create(
            user=user, defaults={"name": DEMO_DEVICE_NAME, "key": DEMO_TOTP_KEY, "confirmed": True})
        if device.key == DEMO_TOTP_KEY:
            enrolled.append(user.email)
    return enrolled


@demo.register("mfa", order=100)
def seed_step(run: demo.DemoRun) -> list[str]:
    emails = [email for email, _ in run.logins]
    with_mfa = seed_mfa_demo(emails)
    employees = seed_step_up_demo(emails)
    lines = []
    if with_mfa:
        lines += [f"The console asks {', '.join(e.split('@')[0] for e in with_mfa)} for MFA: their demo "
                  f"authenticator app key is {demo_secret()} (add it to any authenticator app), or print the "
                  "current code with",
                  f"  .venv/bin/python manage.py demo_totp {with_mfa[0]}"]
    if employees:
        lines += [f"{', '.join(e.split('@')[0] for e in employees)} has the same demo authenticator app for "
                  f"step-up (manage.py demo_totp {employees[0]}); add a security key (or a virtual one in "
                  "the browser's developer tools, WebAuthn panel) in My MFA devices for the other."]
    return lines
