"""Chromium through the web gateway: the organization CA trusted by its SPKI (no certificate
store), real hostnames mapped by the gateway's test mode to local HTTPS sites that answer like
the applications, every other upstream refused. Then a real Celery worker runs risk detection
and the usage rollup on what the gateway logged."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from risk.models import RiskEvent, UserRisk
from shadow_ai.gateway import ca
from shadow_ai.gateway.models import GatewayCA
from shadow_ai.tests.test_gateway_proxy import AWS_KEY, _rows

pytestmark = [pytest.mark.e2e, pytest.mark.gateway, pytest.mark.worker]


def _spki(pem: bytes) -> str:
    from cryptography import x509

    return ca.spki_sha256(x509.load_pem_x509_certificate(pem))


def test_chromium_through_the_gateway(gateway_world, gateway_sites, gateway_process, celery_workers, super_admin,
                                      client_for, django_capture_on_commit_callbacks, playwright_driver):
    from playwright.sync_api import Error as PlaywrightError

    from conftest import CHROMIUM, CHROMIUM_ARGS
    from risk.services import configuration as risk_services
    from shadow_ai.usage import services as usage

    authority, site = gateway_sites
    with django_capture_on_commit_callbacks(execute=True):
        risk_services.ensure_configs()
        risk_services.behaviour_update(actor=super_admin, key="high_dlp_matches", enabled=True, level="high",
                                       params={"threshold": 2, "window_minutes": 10})
    worker = celery_workers.start()
    proc = gateway_process(site.values(), authority, CELERY_DEFAULT_QUEUE=worker["queue"])
    org_ca = GatewayCA.objects.get().certificate_pem.encode()
    # Trusted: the organization CA (its leaf certificates reuse its key), and the bank's own
    # certificate, which only a connection the gateway does not inspect can show.
    trusted = f"{_spki(org_ca)},{_spki(site['bank.example'].cert_file.read_bytes())}"
    proxy = {"server": f"http://127.0.0.1:{proc.port}", "username": "ada@corp.example",
             "password": gateway_world["token"]}
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, proxy=proxy, args=[
        *CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={trusted}"])
    try:
        page = chromium.new_page(proxy=proxy)
        page.set_default_timeout(30_000)

        # ChatGPT is unapproved: opening it lands on Claude.
        page.goto("https://chatgpt.com/")
        assert page.url == "https://claude.ai/"
        assert page.locator("h1[data-site='claude.ai']").is_visible()

        # A clean prompt goes through; one holding an AWS key ends on the block page.
        page.fill("textarea[name=prompt]", "Summarise the quarterly plan in three bullets.")
        page.click("button[type=submit]")
        assert page.locator("[data-answer]").inner_text() == "claude.ai answered"
        for attempt in range(2):
            page.goto("https://claude.ai/")
            page.fill("textarea[name=prompt]", f"attempt {attempt}: why is aws_access_key_id = {AWS_KEY} refused?")
            page.click("button[type=submit]")
            assert "/shadow-ai/blocked/" in page.url
            assert page.get_by_test_id("block-why").inner_text() == "Remove the credentials from your prompt."
        assert [r.body.count(b"AKIA") for r in site["claude.ai"].received if r.method == "POST"] == [0]

        # Do not inspect: the bank is reached with its own certificate, not the gateway's.
        response = page.goto("https://bank.example/")
        assert response.status == 200
        assert response.security_details()["issuer"] == "Test upstream CA"
        intercepted = page.goto("https://claude.ai/")
        assert intercepted.security_details()["issuer"] == GatewayCA.objects.get().subject

        # Someone without credentials is refused with a 407 (Chromium, with none to offer, gives up).
        stranger = chromium.new_page(proxy={"server": f"http://127.0.0.1:{proc.port}"})
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            stranger.goto("http://claude.ai/")
    finally:
        chromium.close()

    # The worker ran detection on the gateway's rows: two blocked prompts with DLP matches.
    deadline = time.monotonic() + 60
    while not RiskEvent.objects.filter(user=gateway_world["ada"], behaviour="high_dlp_matches").exists():
        assert time.monotonic() < deadline, "the DLP behaviour was never triggered"
        time.sleep(0.5)
    assert UserRisk.objects.get(pk=gateway_world["ada"].pk).get_level_display() == "High"
    assert len(_rows(2, email="ada@corp.example", action="block", host="claude.ai")) == 2
    refused = {(r.email, r.host, r.user_id) for r in _rows(1, http_status=407, host="claude.ai")}
    assert refused == {("", "claude.ai", None)}  # Chromium's own background requests were refused too

    # The rollup, on the worker, puts the gateway's traffic on the Shadow AI dashboard.
    with django_capture_on_commit_callbacks(execute=True):
        run = usage.rollup_start(actor=super_admin)
    deadline = time.monotonic() + 60
    while True:
        run.refresh_from_db()
        if run.status == "done":
            break
        assert time.monotonic() < deadline and run.status != "failed", run.message
        time.sleep(0.5)
    dashboard = client_for(super_admin).get(reverse("shadow_ai:usage-apps"), {"range": "7d"}).content.decode()
    assert "Claude" in dashboard and "ChatGPT" in dashboard
