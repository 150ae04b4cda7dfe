"""Run a real OpenID Connect relying party (npm ``openid-client`` v6, ``oidc_client_node/``) that
signs people in through the console, as a SaaS application would. Its ``/login`` starts the
authorization code flow with PKCE; its ``/callback`` shows the ID token's claims (verified against
the console's JWKS with ``jose``) or the error the console sent back."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from console.testing.oidc import READY_TIMEOUT_SECONDS, _OutputReader, _stop, free_port

NODE_DIR = Path(__file__).parent / "oidc_client_node"


def ensure_node_modules() -> None:
    """Install the relying party's npm dependencies (from package-lock.json) if missing, under a
    file lock (pytest-xdist workers may ask at once)."""
    if (NODE_DIR / "node_modules" / "openid-client" / "package.json").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (needed for the test relying party)")
    with (Path(tempfile.gettempdir()) / "console-test-oidc-client-npm.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (NODE_DIR / "node_modules" / "openid-client" / "package.json").is_file():
            return
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                                text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"`npm ci` in {NODE_DIR} failed:\n{result.stdout}\n{result.stderr}")


@dataclass
class RunningRelyingParty:
    url: str
    port: int

    @property
    def redirect_uri(self) -> str:
        return f"{self.url}/callback"


def reserve() -> RunningRelyingParty:
    """The address a relying party will listen on, to register its redirect URI before it starts."""
    port = free_port()
    return RunningRelyingParty(f"http://localhost:{port}", port)


@contextmanager
def run_relying_party(where: RunningRelyingParty, *, issuer: str, client_id: str, client_secret: str
                      ) -> Iterator[RunningRelyingParty]:
    """Start the relying party at ``where`` (it reads the console's discovery document first, so the
    console must be up) and stop it on exit."""
    ensure_node_modules()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (needed for the test relying party)")
    env = {**os.environ, "RP_PORT": str(where.port), "RP_ISSUER": issuer, "RP_CLIENT_ID": client_id,
           "RP_CLIENT_SECRET": client_secret}
    process = subprocess.Popen([node, "relying_party.mjs"], cwd=NODE_DIR, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    assert process.stdout is not None and process.stderr is not None
    reader = _OutputReader(process.stdout, process.stderr)
    try:
        reader.ready.wait(READY_TIMEOUT_SECONDS)
        if reader.issuer is None:
            _stop(process)
            reader.join()
            raise RuntimeError(f"the test relying party did not start:\n{reader.output()}")
        yield where
    finally:
        _stop(process)
        reader.join()
