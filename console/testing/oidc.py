"""Run a real OpenID Connect provider (npm ``oidc-provider`` v9) for tests.

The provider lives in ``oidc_provider_node/server.mjs``; it is started on
loopback with its clients and accounts given through environment variables,
and is reachable as ``http://localhost:<port>``. Its login page is the
library's development interaction: any login and password are accepted, the
login becomes the subject and the e-mail address, then a consent page asks
to "Continue".
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

NODE_DIR = Path(__file__).parent / "oidc_provider_node"

READY_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 5.0
_OUTPUT_LINES_KEPT = 200


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (needed for the test OIDC provider)")
    return node


def _node_modules_installed() -> bool:
    return (NODE_DIR / "node_modules" / "oidc-provider" / "package.json").is_file()


def ensure_node_modules() -> None:
    """Install the provider's npm dependencies (from package-lock.json) if missing.

    Safe to call from several processes at once (pytest-xdist workers): the
    install runs under an exclusive file lock.
    """
    if _node_modules_installed():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (needed for the test OIDC provider)")
    lock_path = Path(tempfile.gettempdir()) / "console-test-oidc-provider-npm.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _node_modules_installed():
            return
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"`npm ci` in {NODE_DIR} failed with exit code {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningProvider:
    issuer: str
    port: int
    process: subprocess.Popen[str]

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


class _OutputReader:
    """Drains a child's stdout and stderr in threads; signals the READY line."""

    def __init__(self, stdout: IO[str], stderr: IO[str]) -> None:
        self.ready = threading.Event()
        self.issuer: str | None = None
        self.stdout: deque[str] = deque(maxlen=_OUTPUT_LINES_KEPT)
        self.stderr: deque[str] = deque(maxlen=_OUTPUT_LINES_KEPT)
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(stdout,), daemon=True),
            threading.Thread(
                target=self._drain, args=(stderr, self.stderr), daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            self.stdout.append(line)
            if not self.ready.is_set() and line.startswith("READY "):
                self.issuer = line.removeprefix("READY ").strip()
                self.ready.set()
        # The stream ended: wake up whoever waits, the process is gone.
        self.ready.set()

    @staticmethod
    def _drain(stream: IO[str], into: deque[str]) -> None:
        for line in stream:
            into.append(line)

    def join(self, timeout: float = 2.0) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def output(self) -> str:
        return (
            "--- stdout ---\n"
            + "".join(self.stdout)
            + "--- stderr ---\n"
            + "".join(self.stderr)
        )


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def run_oidc_provider(
    *,
    clients: list[dict[str, Any]],
    accounts: dict[str, dict[str, Any]] | None = None,
    port: int | None = None,
    id_token_ttl: int | None = None,
) -> Iterator[RunningProvider]:
    """Start the test OIDC provider and stop it on exit.

    ``clients`` are client metadata objects, at least ``client_id``,
    ``client_secret`` and ``redirect_uris``; ``accounts`` maps a login to the
    extra claims released for it (``name``, ``identity_verified``,
    ``verification_level``, ...). ``id_token_ttl`` shortens the ID tokens' lifetime (seconds).
    """
    ensure_node_modules()
    if port is None:
        port = free_port()
    issuer = f"http://localhost:{port}"
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENTS": json.dumps(clients),
        "OIDC_ACCOUNTS": json.dumps(accounts or {}),
    }
    if id_token_ttl is not None:
        env["OIDC_ID_TOKEN_TTL"] = str(id_token_ttl)
    env.pop("DEBUG", None)  # the `debug` package would flood stderr
    process = subprocess.Popen(
        [_node(), "server.mjs"],
        cwd=NODE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    if process.stdout is None or process.stderr is None:  # pragma: no cover
        raise RuntimeError("the provider's output pipes were not created")
    reader = _OutputReader(process.stdout, process.stderr)
    try:
        became_ready = reader.ready.wait(READY_TIMEOUT_SECONDS)
        if reader.issuer is None:
            _stop(process)
            reader.join()
            why = (
                f"exited with code {process.returncode}"
                if became_ready
                else f"did not print READY within {READY_TIMEOUT_SECONDS:.0f} s"
            )
            raise RuntimeError(f"The test OIDC provider {why}.\n{reader.output()}")
        yield RunningProvider(issuer=reader.issuer, port=port, process=process)
    finally:
        _stop(process)
        reader.join()


def complete_dev_login(page: Page, login: str, *, timeout_ms: float = 15_000) -> None:
    """Sign in as ``login`` on the provider's development interaction pages.

    ``page`` is on, or being redirected to, the provider's login page. Fills
    the login (the password can be anything), submits, then presses
    "Continue" on the consent page if one is shown. Returns once the browser
    has been sent back to the relying party (the navigation after the last
    form has loaded). If the provider already has a session, the login page
    is skipped and only the consent page is handled; if the provider shows
    neither page (session and grant both exist), this times out waiting for
    one, so use a fresh browser context per sign-in.
    """
    # Each development interaction page has one form with a hidden "prompt"
    # input whose value is "login" or "consent".
    prompt = page.locator("form input[name=prompt]")
    prompt.wait_for(state="attached", timeout=timeout_ms)

    if prompt.get_attribute("value", timeout=timeout_ms) == "login":
        page.locator("input[name=login]").fill(login, timeout=timeout_ms)
        page.locator("input[name=password]").fill("x", timeout=timeout_ms)
        with page.expect_navigation(timeout=timeout_ms):
            page.locator("form button[type=submit]").click(timeout=timeout_ms)

    consent = page.locator("form input[name=prompt][value=consent]")
    if consent.count() > 0:
        with page.expect_navigation(timeout=timeout_ms):
            page.locator("form button[type=submit]").click(timeout=timeout_ms)
