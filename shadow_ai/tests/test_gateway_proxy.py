"""The web gateway on real traffic: a real ``manage.py gateway`` process (mitmproxy with our
addon) on this test's database, a real HTTP client through it trusting the organization CA, and
local HTTPS sites standing in for chatgpt.com, claude.ai, gemini.google.com and a bank."""

from __future__ import annotations

import time

import pytest
import requests
from django.urls import reverse

from risk.models import GatewayHttpEvent
from shadow_ai.gateway import credentials
from shadow_ai.gateway import services as gateway

pytestmark = pytest.mark.gateway

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def _rows(count: int, **filters) -> list[GatewayHttpEvent]:
    """The gateway's log rows, once ``count`` of them are stored (the gateway writes in batches)."""
    deadline = time.monotonic() + 30
    while True:
        found = list(GatewayHttpEvent.objects.filter(**filters).order_by("at", "id"))
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_policies_are_enforced_on_real_https_traffic_and_logged(gateway_world, gateway_sites, gateway_process,
                                                                client_for, super_admin, live_server):
    authority, site = gateway_sites
    proc = gateway_process(site.values(), authority)
    through = {"proxies": proc.proxy(gateway_world["token"]), "verify": gateway_world["ca"], "timeout": 30}

    # ChatGPT is unapproved: opening it lands on Claude, the approved alternative.
    opened = requests.get("https://chatgpt.com/", headers={"Accept": "text/html"}, allow_redirects=False, **through)
    assert opened.status_code == 302
    assert opened.headers["Location"] == "https://claude.ai/"
    assert site["chatgpt.com"].received == []
    landed = requests.get(opened.headers["Location"], headers={"Accept": "text/html"}, **through)
    assert landed.status_code == 200
    assert 'data-site="claude.ai"' in landed.text

    # A clean prompt to Claude reaches it; one holding an AWS key is blocked before it leaves.
    endpoint = "https://claude.ai/api/organizations/o1/chat_conversations/c1/completion"
    clean = requests.post(endpoint, json={"prompt": "Summarise the quarterly plan in three bullets."}, **through)
    assert clean.status_code == 200 and clean.json() == {"site": "claude.ai", "ok": True}
    leaked = requests.post(endpoint, json={"prompt": f"Why is aws_access_key_id = {AWS_KEY} refused?"}, **through)
    assert leaked.status_code == 403
    answer = leaked.json()["error"]
    assert answer["type"] == "blocked_by_gateway"
    assert answer["message"] == "Remove the credentials from your prompt."
    assert [r.body for r in site["claude.ai"].received if r.method == "POST"] == [
        b'{"prompt": "Summarise the quarterly plan in three bullets."}']

    # A page load of a blocked application gets the console's signed block page, over HTTPS too.
    blocked = requests.get("https://gemini.google.com/app", headers={"Accept": "text/html"}, allow_redirects=False,
                           **through)
    assert blocked.status_code == 302
    assert blocked.headers["Location"].startswith(f"{live_server.url}/shadow-ai/blocked/?t=")
    page = requests.get(blocked.headers["Location"], timeout=30)
    assert "Gemini is not approved here." in page.text and "No Gemini" in page.text
    assert site["gemini.google.com"].received == []

    # Do not inspect: the bank's own certificate reaches the client (it verifies with the bank's CA only).
    bank = requests.get("https://bank.example/", proxies=through["proxies"], verify=str(authority.ca_file),
                        timeout=30)
    assert bank.status_code == 200 and 'data-site="bank.example"' in bank.text
    with pytest.raises(requests.exceptions.SSLError):
        requests.get("https://claude.ai/", proxies=through["proxies"], verify=str(authority.ca_file), timeout=30)

    rows = _rows(7, email="ada@corp.example")
    by_action = {}
    for row in rows:
        by_action.setdefault((row.host, row.action), row)
        assert row.user_id == gateway_world["ada"].pk
    redirect = by_action["chatgpt.com", "redirect"]
    assert (redirect.policy_name, redirect.http_status, redirect.application_names) == (
        "Use Claude, not ChatGPT", 302, ["ChatGPT"])
    leak = next(r for r in rows if r.action == "block" and r.host == "claude.ai")
    assert leak.policy_name == "No secrets in Claude" and leak.upload_dlp_profiles == ["Credentials and Secrets"]
    assert leak.dlp_match_count == 1 and leak.http_method == "POST" and leak.bytes_sent > 0
    assert by_action["claude.ai", "allow"].bytes_received > 0
    assert by_action["bank.example", "do_not_inspect"].policy_name == "Bank traffic stays private"
    assert by_action["gemini.google.com", "block"].http_status == 302

    # The Shadow AI dashboards read these rows once the rollup has run.
    from shadow_ai.usage import services as usage

    usage.rollup_scheduled()
    listing = client_for(super_admin).get(reverse("shadow_ai:usage-apps"), {"scope": "all", "range": "7d"})
    text = listing.content.decode()
    assert listing.status_code == 200
    assert "Claude" in text and "ChatGPT" in text and "Gemini" in text


def test_people_without_a_valid_credential_get_407_and_are_logged(gateway_world, gateway_sites, gateway_process,
                                                                  django_capture_on_commit_callbacks):
    authority, site = gateway_sites
    proc = gateway_process(site.values(), authority)
    # Plain HTTP: the 407 itself; HTTPS: the CONNECT is refused with it.
    bare = requests.get("http://claude.ai/", proxies=proc.proxy(None), timeout=30)
    assert bare.status_code == 407
    assert bare.headers["Proxy-Authenticate"].startswith("Basic realm=")
    for token in (None, "ztg_nothere_wrong", gateway_world["token"] + "x"):
        with pytest.raises(requests.exceptions.ProxyError, match="407"):
            requests.get("https://claude.ai/", proxies=proc.proxy(token), verify=gateway_world["ca"], timeout=30)
    assert requests.get("https://claude.ai/", proxies=proc.proxy(gateway_world["token"]), verify=gateway_world["ca"],
                        timeout=30).status_code == 200

    credential = credentials.credentials_of(gateway_world["ada"])[0]
    with django_capture_on_commit_callbacks(execute=True):
        assert credentials.gateway_credential_revoke(actor=gateway_world["ada"], credential=credential)
    with pytest.raises(requests.exceptions.ProxyError, match="407"):
        requests.get("https://claude.ai/", proxies=proc.proxy(gateway_world["token"]), verify=gateway_world["ca"],
                     timeout=30)
    assert [r.method for r in site["claude.ai"].received] == ["GET"]

    refused = _rows(5, http_status=407)
    assert len(refused) == 5
    assert all(r.action == "block" and r.email == "" and r.user_id is None and r.host == "claude.ai" for r in refused)

    # The health page lists the running gateway with the version of the policies it decides with.
    from console.health import check_gateways

    check = check_gateways()
    assert check.ok and check.summary == "1 gateway process(es) running"
    assert f"on 127.0.0.1:{proc.port}: policies version" in check.details[0]


def test_isolate_shows_the_notice_and_unloadable_policies_fail_closed_or_open(gateway_world, gateway_sites,
                                                                               gateway_process, super_admin):
    from shadow_ai.models import GatewayPolicy

    authority, site = gateway_sites
    gateway.gateway_policy_create(actor=super_admin, name="Isolate the bank", action="isolate",
                                  isolation={"upload": True, "download": True},
                                  conditions=[{"type": "hostname", "values": ["bank.example"]}])
    GatewayPolicy.objects.filter(name="Bank traffic stays private").update(enabled=False)
    closed = gateway_process(site.values(), authority)
    through = {"proxies": closed.proxy(gateway_world["token"]), "verify": gateway_world["ca"], "timeout": 30}
    notice = requests.get("https://bank.example/", **through)
    assert notice.status_code == 403
    assert "opens only in an isolated browser" in notice.text and "upload, download blocked" in notice.text
    assert "does not provide remote browser isolation" in notice.text
    assert site["bank.example"].received == []

    # A stored policy the engine cannot compile: the gateway refuses rather than guess.
    GatewayPolicy.objects.filter(name="No Gemini").update(conditions=[{"type": "no such condition"}])
    refused = requests.get("https://claude.ai/", **through)
    assert refused.status_code == 503 and "cannot decide right now" in refused.text
    assert site["claude.ai"].received == []
    opened = gateway_process(site.values(), authority, GATEWAY_FAIL_MODE="open")
    passed = requests.get("https://claude.ai/", proxies=opened.proxy(gateway_world["token"]),
                          verify=gateway_world["ca"], timeout=30)
    assert passed.status_code == 200 and len(site["claude.ai"].received) == 1

    rows = _rows(2, host="claude.ai")
    assert sorted((r.action, r.http_status) for r in rows) == [("allow", 200), ("block", 503)]
    assert _rows(1, host="bank.example")[0].action == "isolate"
