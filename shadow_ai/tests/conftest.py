"""Fixtures for the Shadow AI tests: the shipped library, API tokens, people in groups."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from console.access import policies

GATEWAY_SITES = ("chatgpt.com", "claude.ai", "gemini.google.com", "bank.example")


@pytest.fixture(autouse=True)
def _fresh_caches():
    policies.clear_local_cache()
    yield
    policies.clear_local_cache()


@pytest.fixture
def library(db):
    """The catalogue shipped with the console, loaded the way deployments load it."""
    from shadow_ai.catalogue import sync_library

    return sync_library()


@pytest.fixture
def app_named(library) -> Callable:
    from shadow_ai.models import Application

    return lambda name: Application.objects.get(name=name)


@pytest.fixture
def gateway_token(super_admin) -> str:
    from console.access.services import api_token_create

    _, secret = api_token_create(actor=super_admin, name="secure web gateway", scopes=["gateway:evaluate"])
    return secret


@pytest.fixture
def evaluate(client) -> Callable:
    """``evaluate(token, body)``: POST /api/v1/gateway/evaluate."""

    def call(token: str | None, body, content_type: str = "application/json"):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        return client.post("/api/v1/gateway/evaluate", data=data, content_type=content_type, **headers)

    return call


# --- Usage discovery ---------------------------------------------------------------------------


@pytest.fixture
def people(make_user) -> list:
    """The senders of the usage tests' Gateway logs, and who the rollups count each as."""
    from console.access.models import Device
    from shadow_ai.tests.usage_data import Person

    make_user(email="ada@corp.example", full_name="Ada")
    make_user(email="bob@corp.example", full_name="Bob")
    dee = make_user(email="dee@corp.example", full_name="Dee")
    Device.objects.create(user=dee, device_id="mac-dee", name="Dee's Mac", os="macOS")
    return [
        Person("ada@corp.example", "mac-ada", "Ada's Mac", "ada@corp.example"),
        Person("bob@corp.example", "win-bob", "Bob's PC", "bob@corp.example"),
        Person("", "mac-dee", "Dee's Mac", "dee@corp.example"),  # no e-mail in the logs: known by device
        Person("eve@partner.example", "eve-1", "Eve's laptop", "eve@partner.example"),  # not in the directory
        Person("", "kiosk-1", "Lobby kiosk", ""),  # nobody: counted in requests, not people
    ]


@pytest.fixture
def source(super_admin):
    """A Gateway HTTP logs telemetry source."""
    from risk.services import sources

    found, _ = sources.telemetry_source_create(actor=super_admin, name="Logpush", kind="gateway_http")
    return found


# --- The web gateway: a real `manage.py gateway` process ------------------------------------------


class GatewayProcess:
    """A running gateway on this test's database, in test mode: the mapped hostnames reach the
    local HTTPS sites, everything else is refused."""

    def __init__(self, process, port: int, log_path) -> None:
        self.process, self.port, self.log_path = process, port, log_path

    def proxy(self, token: str | None) -> dict[str, str]:
        auth = f"me:{token}@" if token else ""
        url = f"http://{auth}127.0.0.1:{self.port}"
        return {"http": url, "https": url}


@pytest.fixture
def gateway_process(transactional_db, live_server):
    """``gateway_process(sites, authority, **env)`` starts a gateway mapping each site's hostname
    to it, with the console at ``live_server`` (the block page's home)."""
    import os
    import socket
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    from django.db import connection

    from console.testing.processes import stop

    started: list[tuple] = []
    root = Path(__file__).resolve().parents[2]

    def start(sites, authority, **extra_env: str) -> GatewayProcess:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        db = connection.settings_dict
        env = dict(os.environ) | {
            "DJANGO_SETTINGS_MODULE": "console.settings_test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "DATABASE_CONN_MAX_AGE": "0",
            "CONSOLE_URL": live_server.url,
            "GATEWAY_TEST_UPSTREAMS": ",".join(f"{s.hostname}={s.address}" for s in sites),
            "GATEWAY_TEST_UPSTREAM_CA": str(authority.ca_file),
            "GATEWAY_LOG_FLUSH_SECONDS": "0.2",
        } | extra_env
        log_path = Path(tempfile.gettempdir()) / f"console-test-gateway-{port}.log"
        log = log_path.open("wb")
        process = subprocess.Popen([sys.executable, "manage.py", "gateway", "--listen", f"127.0.0.1:{port}"],
                                   cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append((process, log))
        deadline = time.monotonic() + 120  # a wait for the line, not a pause: a busy machine may need long
        while b"gateway listening on" not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start:\n" + log_path.read_text())
            time.sleep(0.1)
        return GatewayProcess(process, port, log_path)

    yield start
    for process, log in started:
        stop(process)
        log.close()



@pytest.fixture
def gateway_sites():
    from console.testing.websites import Site, TestAuthority

    authority = TestAuthority()
    running = {name: Site(authority, name) for name in GATEWAY_SITES}
    yield authority, running
    for site in running.values():
        site.stop()


@pytest.fixture
def gateway_world(library, super_admin, make_user, django_capture_on_commit_callbacks, tmp_path):
    """ChatGPT unapproved and redirected to Claude (approved); secrets kept out of Claude;
    Gemini blocked; the bank not inspected. Ada has a gateway credential."""
    from shadow_ai import services as library_services
    from shadow_ai.dlp import predefined
    from shadow_ai.dlp.models import DlpEntry, DlpProfile
    from shadow_ai.gateway import ca, credentials
    from shadow_ai.gateway import services as gateway
    from shadow_ai.models import Application

    predefined.sync(DlpProfile, DlpEntry)
    secrets_profile = DlpProfile.objects.get(name="Credentials and Secrets")
    app = {key: Application.objects.get(key=key) for key in ("chatgpt", "claude", "gemini")}
    with django_capture_on_commit_callbacks(execute=True):
        library_services.application_set_status(actor=super_admin, application=app["chatgpt"], status="unapproved",
                                                reason="Not sanctioned")
        library_services.application_set_status(actor=super_admin, application=app["claude"], status="approved",
                                                reason="Sanctioned")
        gateway.gateway_policy_create(actor=super_admin, name="Bank traffic stays private", action="do_not_inspect",
                                      conditions=[{"type": "hostname", "values": ["bank.example"]}])
        gateway.gateway_policy_create(actor=super_admin, name="Use Claude, not ChatGPT", action="redirect",
                                      target=Application.objects.get(key="claude"),
                                      conditions=[{"type": "application", "values": ["chatgpt"]}])
        gateway.gateway_policy_create(actor=super_admin, name="No secrets in Claude", action="block",
                                      block_message="Remove the credentials from your prompt.",
                                      conditions=[{"type": "application", "values": ["claude"]},
                                                  {"type": "dlp_profile", "values": [str(secrets_profile.pk)]}])
        gateway.gateway_policy_create(actor=super_admin, name="No Gemini", action="block",
                                      block_message="Gemini is not approved here.",
                                      conditions=[{"type": "application", "values": ["gemini"]}])
    ada = make_user(email="ada@corp.example", full_name="Ada")
    _, token = credentials.gateway_credential_create(actor=ada, name="Ada's laptop")
    ca.ca_ensure()
    bundle = tmp_path / "org-ca.pem"
    bundle.write_text(ca.bundle_pem())
    return {"ada": ada, "token": token, "ca": str(bundle), "app": app}
