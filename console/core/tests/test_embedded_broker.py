"""The embedded default's filesystem Celery broker keeps everything it writes under the var dir."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.testing.processes import stop

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.worker


def embedded_env(var_dir: Path) -> dict:
    """The environment of ``./dev run``: no database, cache or broker URL, so every default applies."""
    unset = ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items()
           if k not in unset and not k.startswith(("PYTEST", "CONSOLE_", "CELERY_"))}
    return env | {"CONSOLE_ENV": "development", "CONSOLE_VAR_DIR": str(var_dir),
                  "DJANGO_SETTINGS_MODULE": "console.settings", "PYTHONPATH": str(ROOT)}


def test_a_worker_on_the_embedded_broker_writes_only_under_the_var_dir(tmp_path):
    # The worker runs in an empty folder: kombu's defaults (./control, ./data_in, ./data_out) are
    # relative to it, so anything written there would have landed in the working tree of ./dev run.
    cwd, var_dir = tmp_path / "cwd", tmp_path / "var"
    cwd.mkdir()
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "console", "worker", "--pool", "solo", "-n", "embedded@%h",
             "-l", "info"],
            cwd=cwd, env=embedded_env(var_dir), stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120  # a wait for the log line, not a pause
            while b" ready." not in log_path.read_bytes():
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("the worker did not start:\n" + log_path.read_text())
                time.sleep(0.1)
            # A task published from another process (as the web process does) goes through the same folders.
            published = subprocess.run(
                [sys.executable, "-c", "import django; django.setup(); from console.celery import app; "
                 "app.send_task('celery.accumulate', args=(1,))"],
                cwd=cwd, env=embedded_env(var_dir), capture_output=True, text=True, timeout=60,
            )
            assert published.returncode == 0, published.stderr
        finally:
            stop(worker)

    assert "filesystem://" in log_path.read_text()
    assert list(cwd.iterdir()) == []
    # The exchange tables (its own, the broadcast control "pidbox" and replies) sit in the control folder.
    control = {p.name for p in (var_dir / "celery" / "control").iterdir()}
    assert {"default.exchange", "celery.pidbox.exchange"} <= control
    assert (var_dir / "celery" / "queue").is_dir()
