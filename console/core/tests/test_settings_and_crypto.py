import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from accounts.models import IdentityProvider

ROOT = Path(__file__).resolve().parents[3]
KEY = Fernet.generate_key().decode()
PRODUCTION = {
    "CONSOLE_ENV": "production", "DJANGO_SETTINGS_MODULE": "console.settings",
    "SECRET_KEY": Fernet.generate_key().decode() + Fernet.generate_key().decode(),
    "FIELD_ENCRYPTION_KEYS": KEY,
    "ALLOWED_HOSTS": "console.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "CACHE_URL": "redis://127.0.0.1:6379/0",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1", "DEBUG": "false",
}


def run_manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items()
        if k not in PRODUCTION and not k.startswith("PYTEST") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean | env,
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL",
                                     "CELERY_BROKER_URL", "CACHE_URL", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_each_secret_and_service(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert f"{missing} must be set when CONSOLE_ENV=production" in result.stderr


def test_production_refuses_debug():
    result = run_manage("check", env=PRODUCTION | {"DEBUG": "true"})
    assert result.returncode != 0
    assert "DEBUG must not be enabled" in result.stderr


def test_the_deployment_checklist_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_rotating_keys_re_encrypts_every_secret(settings):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    idp = IdentityProvider.objects.create(
        name="Rot", slug="rot", issuer="https://idp.example", client_id="c", client_secret="keep-me",
    )
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_secrets", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key is gone
    assert IdentityProvider.objects.get(pk=idp.pk).client_secret == "keep-me"
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM accounts_identityprovider WHERE id = %s", [idp.pk])
        token = cursor.fetchone()[0]
    assert Fernet(new.encode()).decrypt(token.encode()) == b"keep-me"
