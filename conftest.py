"""Fixtures shared by every test: users and clients per role, a real browser, a real worker."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; Django would otherwise refuse
# database access from it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent
PASSWORD = "Correct-Horse-Battery-9"  # noqa: S105 - test users only
TEST_TOTP_SECRET = "7465737420746f74702073656372657420313233"  # noqa: S105 - hex TOTP key of test admins
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


# The fixtures that start each kind of slow real part, and the marker a test using one carries
# (``-m "not worker and not e2e and not serving"`` runs the tests that start none of them).
MARKED_BY_FIXTURE = {
    "celery_workers": "worker",
    "celery_worker_process": "worker",
    "browser": "e2e",
    "page": "e2e",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the real processes its fixtures start, so no test that starts a Celery
    worker or a browser goes unmarked however it gets the fixture (directly, or through another)."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        # The fixtures of this file by those names: a test parametrized over ``page`` or with a
        # fixture of its own so named starts nothing.
        used = {name for name in MARKED_BY_FIXTURE
                if (defs := info.name2fixturedefs.get(name)) and getattr(defs[-1].func, "__module__", "") == __name__}
        for marker in sorted({MARKED_BY_FIXTURE[name] for name in used}):
            if item.get_closest_marker(marker) is None:
                item.add_marker(marker)


@pytest.fixture(scope="session", autouse=True)
def _purge_unconsumed_tasks() -> Iterator[None]:
    yield
    from console.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("tests-unconsumed")
    except Exception:  # noqa: BLE001 - nothing to purge is fine
        return


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_audit_truncate_trigger() -> Iterator[None]:
    """Transactional tests end by emptying the database. Django's flush (one TRUNCATE of every
    table, then the post_migrate signal rebuilding content types and permissions) costs seconds;
    ``console.testing.database.empty_tables`` empties only the tables that hold rows and leaves
    the same database behind. Where it does not apply, Django's flush runs, past the audit table's
    BEFORE TRUNCATE trigger (console/audit/migrations/0002), which the test database's superuser
    skips for that one transaction; an application role cannot."""
    from django.db import connections
    from django.db.backends.postgresql.operations import DatabaseOperations
    from django.test import TransactionTestCase

    from console.testing.database import empty_tables

    original_sql_flush = DatabaseOperations.sql_flush
    original_teardown = TransactionTestCase._fixture_teardown

    def sql_flush(self, style, tables, **kwargs):
        statements = original_sql_flush(self, style, tables, **kwargs)
        if not statements:
            return statements
        return ["SET LOCAL session_replication_role = replica", *statements,
                "SET LOCAL session_replication_role = origin"]

    def fixture_teardown(self) -> None:
        if self.available_apps is not None or self.serialized_rollback:
            return original_teardown(self)
        if not all(empty_tables(connections[name]) for name in self._databases_names(include_mirrors=False)):
            original_teardown(self)

    DatabaseOperations.sql_flush = sql_flush
    TransactionTestCase._fixture_teardown = fixture_teardown
    yield
    DatabaseOperations.sql_flush = original_sql_flush
    TransactionTestCase._fixture_teardown = original_teardown


@pytest.fixture(autouse=True)
def _no_per_address_sign_in_ceiling(settings) -> None:
    """Every test signs in from the same few addresses, so the per-address ceiling on sign-in
    attempts would add up across tests; the tests about that ceiling set it themselves."""
    settings.LOGIN_RATE_LIMIT_PER_IP = 10_000


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Rate-limit counters are kept per address and person, and every test comes from 127.0.0.1:
    each test starts with none, so attempts made by earlier tests never trip a ceiling in a later
    one (the tests about a limit make their own attempts)."""
    from django.core.cache import cache

    backend = getattr(cache, "_cache", None)
    if backend is None or not hasattr(backend, "get_client"):
        return
    redis = backend.get_client(write=True)
    keys = [key for pattern in ("ratelimit:*", "once:*")
            for key in redis.scan_iter(match=cache.make_key(pattern), count=1000)]
    if keys:
        redis.delete(*keys)


@pytest.fixture
def make_user(db) -> Callable:
    from accounts.tests.factories import UserFactory

    def make(role: str = "employee", **fields):
        fields.setdefault("password", PASSWORD)
        return UserFactory(role=role, **fields)

    return make


@pytest.fixture
def super_admin(make_user):
    return make_user("super_admin", email="root@corp.example", full_name="Root Admin")


@pytest.fixture
def security_admin(make_user):
    return make_user("security_admin", email="sec@corp.example", full_name="Sec Admin")


@pytest.fixture
def hr_user(make_user):
    return make_user("hr", email="hr@corp.example", full_name="Hannah HR")


@pytest.fixture
def auditor(make_user):
    return make_user("auditor", email="audit@corp.example", full_name="Avery Auditor")


@pytest.fixture
def employee(make_user):
    return make_user("employee", email="emp@corp.example", full_name="Emil Employee")


def mark_mfa_verified(client, user) -> None:
    """Record an MFA verification for ``client``'s console session, through the same service a
    real verification uses (bound to this session only): console MFA is passed and the
    sensitive-action window is open."""
    from mfa.models import Method
    from mfa.services import verification_record

    session = client.session
    verification_record(session=session, user=user, method=Method.TOTP, authenticator="test authenticator")
    session.save()


@pytest.fixture
def client_for(client) -> Callable:
    """``client_for(user)``: Django's test client signed in as ``user``. Roles the console asks
    for MFA get a session that has passed it (``mfa=False`` leaves it unverified)."""
    from mfa.console import CONSOLE_MFA_ROLES

    def signed_in(user, *, mfa: bool = True):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        if mfa and user.role in CONSOLE_MFA_ROLES:
            mark_mfa_verified(client, user)
        return client

    return signed_in


def current_totp_code(user) -> str:
    """The next code of ``user``'s authenticator app that the console will accept (a code works
    once: after a recent use, the next time step's code, which the one-step tolerance allows)."""
    from django.utils import timezone
    from django_otp.oath import TOTP

    from mfa.models import TotpAuthenticator

    device = TotpAuthenticator.objects.get(user=user)
    while True:
        totp = TOTP(device.bin_key, step=30, t0=0, digits=6, drift=device.drift)
        totp.time = timezone.now().timestamp()
        step = totp.t()
        if device.last_t < step + 1:
            totp.time += 30 * max(0, device.last_t + 1 - step)
            return f"{totp.token():06d}"
        time.sleep(1)


# --- Browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator:
    """The one Playwright of this test process: sync Playwright cannot be started twice in one
    thread, so a test that needs a browser launched its own way (a proxy, extra flags) launches it
    from here rather than starting another."""
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait for what the page shows as long as actions do (Playwright's default for
    # ``expect`` is 5 s, which a busy machine can exceed while a chart draws).
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_driver) -> Iterator:
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def sign_in(live_server) -> Callable:
    """Sign in through the real sign-in form."""

    def do(page, email: str, password: str = PASSWORD, *, mfa: bool = True) -> None:
        """Roles the console asks for MFA get an authenticator app (``TEST_TOTP_SECRET``) if they
        have none, and type its current code on the verify page, as a person would."""
        from accounts.models import User
        from mfa.console import console_mfa_required
        from mfa.models import TotpAuthenticator

        user = User.objects.filter(email__iexact=email).first()
        needs_mfa = mfa and user is not None and console_mfa_required(user)
        if needs_mfa:
            TotpAuthenticator.objects.get_or_create(
                user=user, defaults={"name": "Test phone", "key": TEST_TOTP_SECRET, "confirmed": True})
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", email)
        page.fill("#id_password", password)
        page.click("form[action$='/accounts/login/'] button[type=submit]")
        page.wait_for_load_state("networkidle")
        if needs_mfa and "/mfa/verify/" in page.url:
            page.fill("[data-testid=verify-totp-code]", current_totp_code(user))
            page.click("[data-testid=verify-totp]")
            page.wait_for_load_state("networkidle")

    return do


# --- A real Celery worker ------------------------------------------------------------------------


class WorkerPool:
    """Real ``celery worker`` processes on the Redis broker, all on one queue of their own (so
    parallel test workers never take each other's tasks), using this test's database."""

    def __init__(self, database: dict) -> None:
        self.queue = f"test-{uuid.uuid4().hex[:10]}"
        self.database = database
        self.processes: list[tuple[subprocess.Popen, object]] = []

    def start(self, *, queue: str = "", **extra_env: str) -> dict:
        """A worker on the pool's queue, or on ``queue`` (a test that must keep a killed worker's
        task, which Redis may hand back to the pool's queue, away from the next worker)."""
        db = self.database
        queue = queue or self.queue
        env = dict(os.environ)
        env.update({
            "DJANGO_SETTINGS_MODULE": "console.settings_test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_DEFAULT_QUEUE": queue,
            "DATABASE_CONN_MAX_AGE": "0",
        } | extra_env)
        name = f"{self.queue}-{len(self.processes)}"
        log_path = Path(tempfile.gettempdir()) / f"console-test-worker-{name}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "console", "worker", "-Q", queue, "--pool", "solo",
             "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "info"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.processes.append((process, log))
        deadline = time.monotonic() + 120  # a wait for the log line, not a pause: a busy machine may need long
        while b" ready." not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not start:\n" + log_path.read_text())
            time.sleep(0.1)
        return {"pid": process.pid, "queue": queue, "log": log_path, "process": process}

    def stop_all(self) -> None:
        from console.testing.processes import stop

        for process, log in self.processes:
            stop(process)
            log.close()


@pytest.fixture
def celery_workers(transactional_db, django_db_blocker) -> Iterator[WorkerPool]:
    """Start workers with ``celery_workers.start(**env)``; tasks queued by the test go to them."""
    from django.db import connection

    from console.celery import app

    pool = WorkerPool(connection.settings_dict)
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = pool.queue
    try:
        yield pool
    finally:
        app.conf.task_default_queue = previous_queue
        pool.stop_all()


@pytest.fixture
def celery_worker_process(celery_workers) -> dict:
    """One real worker process (see ``celery_workers``)."""
    return celery_workers.start()
