"""The vendor HTTP client's own rules: rate-limit headers, error wording, links, redirects."""

from __future__ import annotations

import email.utils
import time

import pytest

from shadow_ai.casb.connectors.errors import BadRequest, NotFound, StopScan, TransientError
from shadow_ai.casb.connectors.http import VendorHTTP, error_text, parse_duration, rate_limit_wait
from shadow_ai.casb.testing import Response, Script


def test_rate_limit_headers_of_each_vendor():
    now = 1_700_000_000.0
    assert rate_limit_wait({"Retry-After": "12"}, now=now) == 12
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert rate_limit_wait({"Retry-After": date}, now=now) == pytest.approx(30, abs=1)
    assert rate_limit_wait({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(now) + 40)}, now=now) == 40
    assert rate_limit_wait({"x-ratelimit-reset-requests": "6m0s"}, now=now) == 360
    assert rate_limit_wait({"anthropic-ratelimit-requests-reset": "2023-11-14T22:14:00Z"}, now=now) == 40
    assert rate_limit_wait({}, now=now) is None
    assert parse_duration("20ms") == 0.02 and parse_duration("1h2m3.5s") == 3723.5 and parse_duration("x") is None


def test_error_text_reads_every_dialect():
    openai_style = {"error": {"message": "Bad key", "type": "invalid_request_error"}}
    assert error_text(openai_style) == "invalid_request_error: Bad key"
    oauth_style = {"error": "invalid_client", "error_description": "AADSTS7000215"}
    assert error_text(oauth_style) == "invalid_client: AADSTS7000215"
    assert error_text({"message": "Not Found"}) == "Not Found"
    assert error_text(["odd"]) == ""


def test_no_redirects_no_foreign_links_and_unreachable_hosts(vendor_server):
    http = VendorHTTP(vendor="Acme", hosts={"api": "https://api.acme.example"}, override=vendor_server.url,
                      max_retries=1, sleep=lambda s: None)
    vendor_server.route("GET", "/moved", Response(302, None, {"Location": "https://elsewhere.example/"}))
    with pytest.raises(BadRequest, match="redirected"):
        http.get("/moved")
    with pytest.raises(BadRequest, match="not one of its API hosts"):
        http.get("https://api.acme.example.evil.example/x")
    vendor_server.route("GET", "/gone", Response(404, {"message": "Not Found"}))
    with pytest.raises(NotFound, match="Not Found"):
        http.get("/gone")
    closed = VendorHTTP(vendor="Acme", hosts={"api": "http://127.0.0.1:9"}, max_retries=1, sleep=lambda s: None)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"Could not reach 127\.0\.0\.1:9"):
        closed.get("/x")
    assert time.monotonic() - started < 5


def test_server_errors_are_retried_with_backoff_then_raised(vendor_server):
    waits: list[float] = []
    http = VendorHTTP(vendor="Acme", hosts={"api": "x"}, override=vendor_server.url, max_retries=2,
                      backoff_base=1.0, sleep=waits.append)
    vendor_server.route("GET", "/flaky", Script(Response(502, raw=b"Bad gateway"), Response(200, {"ok": True})))
    assert http.get("/flaky").data == {"ok": True} and len(waits) == 1 and 0.5 <= waits[0] <= 1.0
    vendor_server.route("GET", "/down", Response(503, {"error": {"message": "overloaded"}}))
    with pytest.raises(TransientError, match="HTTP 503") as down:
        http.get("/down")
    assert down.value.retry_after >= 1 and len(waits) == 3


def test_downloads_give_raw_bytes_nothing_past_the_cap_and_errors_as_usual(vendor_server):
    http = VendorHTTP(vendor="Acme", hosts={"api": "https://api.acme.example"}, override=vendor_server.url,
                      max_retries=1, sleep=lambda s: None)
    vendor_server.route("GET", "/notes.txt", Response(200, raw=b"plain text, not JSON", headers={
        "Content-Type": "text/plain"}))
    vendor_server.route("GET", "/big.csv", Response(200, raw=b"x" * 200_000, headers={"Content-Type": "text/csv"}))
    vendor_server.route("GET", "/gone", Response(404, {"error": {"code": 404, "message": "File not found: gone."}}))
    assert http.download("/notes.txt", max_bytes=100) == b"plain text, not JSON"
    assert http.download("/notes.txt", max_bytes=20) == b"plain text, not JSON"  # exactly the cap: whole
    assert http.download("/big.csv", max_bytes=1000) is None  # too large: not read
    assert vendor_server.hits("/big.csv")[0].headers["Accept"] == "*/*"
    with pytest.raises(NotFound, match="File not found"):
        http.download("/gone", max_bytes=100)


def test_vendor_requests_go_through_the_outbound_policy(vendor_server, settings):
    """An integration pointed at this machine (or a vendor host that resolves into our network)
    stops with a message naming the rule, and nothing is sent."""
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    http = VendorHTTP(vendor="Acme", hosts={"api": "https://api.acme.example"}, override=vendor_server.url,
                      max_retries=1, sleep=lambda s: None)
    vendor_server.route("GET", "/users", Response(200, {"users": []}))
    with pytest.raises(StopScan, match=r"refused by the outbound policy: 127\.0\.0\.1 is a loopback address") as stop:
        http.get("/users")
    assert not stop.value.retryable and stop.value.needs_attention
    assert vendor_server.requests == []
