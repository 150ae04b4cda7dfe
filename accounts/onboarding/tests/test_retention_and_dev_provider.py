"""Retention of verification records (a Celery beat job), invitation expiry, and the development
identity-verification provider that ./dev run starts: real OIDC, refused in production."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from django.test import Client
from django.utils import timezone

from accounts.models import IdentityProvider
from accounts.onboarding import tasks
from accounts.onboarding.models import OnboardingCase, OutboxMessage, VerificationRecord
from accounts.onboarding.services import cases, providers
from accounts.onboarding.tests.conftest import TESTSERVER_CALLBACK, callback_path
from console.audit.models import AuditEvent
from console.testing.oidc import _stop, free_port

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
DEV_PROVIDER = ROOT / "accounts" / "onboarding" / "dev_provider"


def test_old_verification_records_and_outbox_messages_are_pruned(settings, employee):
    settings.VERIFICATION_RETENTION_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    VerificationRecord.objects.create(user=employee, provider_name="V", purpose="step_up", outcome="verified", at=old)
    kept = VerificationRecord.objects.create(user=employee, provider_name="V", purpose="step_up", outcome="verified")
    OutboxMessage.objects.create(to="a@b.example", from_email="c", subject="s", body="b",
                                 sent_at=timezone.now() - timedelta(days=settings.OUTBOX_RETENTION_DAYS + 1))
    assert tasks.prune_verification_records.apply().get() == {"verification_records": 1, "outbox_messages": 1}
    assert list(VerificationRecord.objects.all()) == [kept]
    assert tasks.prune_verification_records.apply().get() == {"verification_records": 0, "outbox_messages": 0}
    event = AuditEvent.objects.get(action="identity.records_pruned")
    assert event.changes["retention_days"] == 30 and event.actor_email == ""


def test_unused_invitations_expire_on_schedule(hr_user, idv):
    case = cases.case_create(actor=hr_user, legal_name="Ada New", personal_email="a@home.example",
                             work_email="ada.new@corp.example", start_date=timezone.localdate(), provider=idv,
                             link_base="http://testserver/onboarding/invite")
    assert tasks.expire_invitations.apply().get() == 0
    OnboardingCase.objects.filter(pk=case.pk).update(invitation_expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.expire_invitations.apply().get() == 1
    assert tasks.expire_invitations.apply().get() == 0
    case.refresh_from_db()
    assert case.status == "expired"


def test_both_jobs_are_in_the_beat_schedule():
    from console.celery import collect_beat_schedule

    tasks_scheduled = {entry["task"] for entry in collect_beat_schedule().values()}
    assert {"accounts.onboarding.tasks.prune_verification_records",
            "accounts.onboarding.tasks.expire_invitations"} <= tasks_scheduled


# --- The development provider -------------------------------------------------------------------


def _settings_in(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings", "SECRET_KEY": "x" * 50,
             "FIELD_ENCRYPTION_KEYS": "0Ujr3Ii0pq1WsOUtJQ-1mSRCk0yDbIyOlBrF6O3-Gng=", "ALLOWED_HOSTS": "c.example",
             "DATABASE_URL": "postgres://u@127.0.0.1/x", "CACHE_URL": "redis://127.0.0.1:6379/0",
             "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1", "DEBUG": "false", **env},
        timeout=60, check=False,
    )


def test_production_settings_refuse_the_development_provider():
    refused = _settings_in({"CONSOLE_ENV": "production", "DEV_VERIFICATION_PROVIDER": "true"})
    assert refused.returncode != 0
    assert "DEV_VERIFICATION_PROVIDER cannot be enabled when CONSOLE_ENV=production" in refused.stderr
    assert _settings_in({"CONSOLE_ENV": "production"}).returncode == 0
    probe = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(settings.DEV_VERIFICATION_PROVIDER)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings", "SECRET_KEY": "x" * 50,
             "FIELD_ENCRYPTION_KEYS": "0Ujr3Ii0pq1WsOUtJQ-1mSRCk0yDbIyOlBrF6O3-Gng=", "ALLOWED_HOSTS": "c.example",
             "DATABASE_URL": "postgres://u@127.0.0.1/x", "CACHE_URL": "redis://127.0.0.1:6379/0",
             "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1", "DEBUG": "false", "CONSOLE_ENV": "production"},
    )
    assert probe.stdout.strip() == "False"


@pytest.fixture(scope="module")
def dev_provider():
    if not (DEV_PROVIDER / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=DEV_PROVIDER, check=True)
    port = free_port()
    env = {**os.environ, "DEV_IDV_PORT": str(port), "DEV_IDV_CLIENT_SECRET": "dev-secret-for-tests",
           "DEV_IDV_REDIRECT_URIS": TESTSERVER_CALLBACK, "CONSOLE_ENV": "development"}
    env.pop("DEBUG", None)
    process = subprocess.Popen(["node", "server.mjs"], cwd=DEV_PROVIDER, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("READY "), process.stderr.read()
        yield line.removeprefix("READY ").strip()
    finally:
        _stop(process)


def test_the_development_provider_refuses_to_start_in_production():
    result = subprocess.run(["node", "server.mjs"], cwd=DEV_PROVIDER, capture_output=True, text=True, timeout=30,
                            env={**os.environ, "CONSOLE_ENV": "production", "DEV_IDV_CLIENT_SECRET": "x",
                                 "DEV_IDV_REDIRECT_URIS": TESTSERVER_CALLBACK}, check=False)
    assert result.returncode == 2 and "refusing to start: CONSOLE_ENV=production" in result.stderr


def _connect_dev(super_admin, issuer: str) -> IdentityProvider:
    from accounts.services import identity_providers

    return identity_providers.idp_create(
        actor=super_admin, name="Development identity verification", kind="verification", issuer=issuer,
        client_id="console-dev", client_secret="dev-secret-for-tests", scopes="openid email profile verification",
        verified_claim="identity_verified", assurance_claim="verification_level", min_assurance_level="medium",
    )


def test_the_development_provider_is_refused_where_development_providers_are_off(settings, super_admin,
                                                                                 dev_provider):
    settings.DEV_VERIFICATION_PROVIDER = False
    from console.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="for development only"):
        _connect_dev(super_admin, dev_provider)
    settings.DEV_VERIFICATION_PROVIDER = True
    idp = _connect_dev(super_admin, dev_provider)
    assert idp.development_only
    settings.DEV_VERIFICATION_PROVIDER = False
    assert providers.verification_providers() == []


def _dev_verification(auth_url: str, *, email: str, outcome: str, level: str) -> str:
    session = requests.Session()
    page = session.get(auth_url, timeout=10)
    assert "DEVELOPMENT ONLY" in page.text and email in page.text  # the login hint is prefilled
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
    answer = session.post(urljoin(page.url, action), allow_redirects=False, timeout=10,
                          data={"email": email, "name": "Dev Person", "outcome": outcome, "level": level})
    while answer.status_code in (302, 303):
        location = urljoin(answer.url, answer.headers["Location"])
        if location.startswith(TESTSERVER_CALLBACK):
            return location
        answer = session.get(location, allow_redirects=False, timeout=10)
    raise AssertionError(answer.text[:500])


def test_onboarding_works_end_to_end_with_the_development_provider(settings, super_admin, hr_user, dev_provider,
                                                                    django_capture_on_commit_callbacks):
    from accounts.onboarding.tests.conftest import invite

    settings.DEV_VERIFICATION_PROVIDER = True
    idp = _connect_dev(super_admin, dev_provider)
    from accounts.oidc import test_connection as check

    results = {r.name: r for r in check(idp)}
    assert results["Development provider"].ok and results["Claims"].ok and results["Signing keys"].ok
    case, link = invite(hr_user, idp, django_capture_on_commit_callbacks, work_email="dev.hire@corp.example")
    client = Client()
    low = _dev_verification(client.post(link)["Location"], email="dev.hire@corp.example", outcome="verified",
                            level="low")
    assert client.get(callback_path(low)).status_code == 400
    case.refresh_from_db()
    assert (case.status, case.failure_check) == ("failed", "assurance_level")

    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        cases.case_resend(actor=hr_user, case=case, link_base="http://testserver/onboarding/invite")
    link = re.search(r"http://testserver(/onboarding/invite/[^/\s]+/)", mail.outbox[-1].body).group(1)
    client = Client()
    ok = _dev_verification(client.post(link)["Location"], email="dev.hire@corp.example", outcome="verified",
                           level="high")
    assert client.get(callback_path(ok))["Location"] == "/onboarding/welcome/"
    case.refresh_from_db()
    assert case.status == "verified" and case.user.email == "dev.hire@corp.example"
    assert VerificationRecord.objects.get(case=case, outcome="verified").transaction_id.startswith("dev-txn-")
