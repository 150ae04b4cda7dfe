"""Settings for the test suite: the real PostgreSQL and Redis on this machine.

Every value can still be overridden from the environment (CI points them elsewhere)."""

import os
import tempfile
import uuid

os.environ.setdefault("CONSOLE_ENV", "test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/console")
os.environ.setdefault("CACHE_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/1")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "0Ujr3Ii0pq1WsOUtJQ-1mSRCk0yDbIyOlBrF6O3-Gng=")
os.environ.setdefault("DEBUG", "false")
# The tests run real OpenID providers, SSF receivers and vendor replays on this machine: the
# outbound policy (console/core/outbound.py) must let the console reach loopback. Tests about
# the policy itself turn this off with the ``settings`` fixture.
os.environ.setdefault("OUTBOUND_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
os.environ.setdefault("CONSOLE_VAR_DIR", os.path.join(tempfile.gettempdir(), "console-test-var"))

from console.settings import *  # noqa: F403

# Tasks that services queue in ordinary tests go to a queue no worker reads (tests that are
# about jobs start their own worker on a queue of their own); the suite purges it at the end.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_DEFAULT_QUEUE", "tests-unconsumed")
# ... and so do ingest and scoring tasks (no routing to their own queues; risk/tests/test_scoring_outbox.py
# checks the routing when they are set).
CELERY_INGEST_QUEUE = os.environ.get("CELERY_INGEST_QUEUE", "")
CELERY_SCORING_QUEUE = os.environ.get("CELERY_SCORING_QUEUE", "")
CELERY_TASK_QUEUES = None

# Tests look at the database right after a decision.
ACCESS_LOG_BUFFERED = False
# Tests that turn the spool on keep it to this process: a shared spool directory would let one
# test database replay another's entries (created on first use only).
ACCESS_LOG_SPOOL_DIR = VAR_DIR / "access-log-spool" / (  # noqa: F405
    f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex[:8]}"
)
ACCESS_CACHE_SECONDS = 0.0
# Ordinary tests run inside a transaction that never commits, so the version bumps that clear
# process caches never happen: keep nothing. console/access/tests/test_hot_cache.py turns it on and commits.
ACCESS_HOT_CACHE = False
ACCESS_SESSION_WRITE_SECONDS = 0
# Usage dashboards: no cached results (tests share the cache and their data never commits);
# shadow_ai/tests/test_usage_pages.py turns it on.
SHADOW_AI_USAGE_CACHE_SECONDS = 0

# Hashing speed is not what the tests are about.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Each pytest-xdist worker, and each run, gets its own cache namespace, so counters in one never
# leak into another.
CACHES["default"]["KEY_PREFIX"] = (  # noqa: F405
    f"test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex[:8]}"
)
