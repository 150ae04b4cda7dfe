"""The outbound HTTP policy (console/core/outbound.py), against real servers on loopback.

The test settings allow loopback (the suite runs real providers and receivers there); each test
about the policy turns the allow-list off or changes it with the ``settings`` fixture."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from console.core import outbound
from console.core.errors import ExternalServiceError
from console.core.outbound import OutboundBadAnswer, OutboundRefused, OutboundUnavailable


@dataclass
class Server:
    port: int
    scheme: str = "http"
    seen: list[tuple[str, str, str, bytes]] = field(default_factory=list)  # method, path, Host, body

    def url(self, path: str = "/ok", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


# The test server's redirects: path -> (status, Location).
REDIRECTS = {
    "/same-origin": (302, "/ok"),
    "/keep-post": (307, "/echo"),
    "/see-other": (303, "/echo"),
    "/other-origin": (302, "http://localhost:{port}/ok"),
    "/to-file": (302, "file:///etc/passwd"),
    "/loop": (302, "/loop"),
}


class _Handler(BaseHTTPRequestHandler):
    """The test server's answers by path; ``state`` is the ``Server`` that records each request."""

    protocol_version = "HTTP/1.1"
    state: Server

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _big_undeclared(self) -> None:
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        for _ in range(50):
            self.wfile.write(b"y" * 1000)
        self.close_connection = True

    def _slow(self) -> None:
        time.sleep(1.5)
        self._send(200, b"{}")

    def _trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "40")
        self.end_headers()
        for _ in range(40):
            self.wfile.write(b"z")
            self.wfile.flush()
            time.sleep(0.05)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.state.seen.append((self.command, self.path, self.headers.get("Host", ""), body))
        path = self.path.split("?")[0]
        streamed = {"/big-undeclared": self._big_undeclared, "/slow": self._slow, "/trickle": self._trickle}
        if path == "/ok":
            self._send(200, b'{"ok": true}', {"Content-Type": "application/json"})
        elif path == "/echo":
            self._send(200, json.dumps({"method": self.command, "body": body.decode()}).encode())
        elif path in REDIRECTS:
            status, location = REDIRECTS[path]
            self._send(status, headers={"Location": location.format(port=self.state.port)})
        elif path == "/big-declared":
            self._send(200, b"x" * 5000)
        elif path in streamed:
            streamed[path]()
        else:
            self._send(404)

    do_GET = do_POST = _handle


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"state": server})


@contextmanager
def run_server(context: ssl.SSLContext | None = None, bind: str = "127.0.0.1") -> Iterator[Server]:
    httpd = ThreadingHTTPServer((bind, 0), _handler(Server(0)))
    server = Server(httpd.server_address[1], scheme="https" if context else "http")
    httpd.RequestHandlerClass = _handler(server)
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with run_server() as running:
        yield running


@pytest.fixture
def no_allow_list(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    settings.OUTBOUND_ALLOWED_HOSTS = []


@pytest.fixture
def fake_dns(monkeypatch):
    """Names under .test resolve to what the test says (a list per name: one answer per lookup,
    the last one repeating); everything else goes to the real resolver. Records every lookup."""
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.endswith(".test"):
            lookups.append(name)
            queue = answers[name]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            ip = ipaddress.ip_address(address)
            family_ = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            sockaddr = (address, port) if ip.version == 4 else (address, port, 0, 0)
            return [(family_, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


# --- Schemes and URL forms ------------------------------------------------------------------------


@pytest.mark.parametrize("url, rule", [
    ("file:///etc/passwd", "only http and https URLs are fetched, not file://"),
    ("ftp://ftp.example.com/x", "not ftp://"),
    ("gopher://127.0.0.1:6379/_INFO", "not gopher://"),
    ("javascript:alert(1)", "not javascript://"),
    ("//idp.example.com/x", "a URL without a scheme"),
    ("http:///no-host", "names no host"),
    ("http://idp.example.com:99999/", "port is not a number"),
    ("http://idp.example.com/a b", "spaces or control characters"),
])
def test_only_http_and_https_urls_are_fetched(url, rule):
    with pytest.raises(OutboundRefused) as caught:
        outbound.fetch("GET", url)
    assert rule in caught.value.message
    assert isinstance(caught.value, ExternalServiceError) and not caught.value.retryable


def test_credentials_in_the_url_are_refused_and_the_real_host_is_named(server):
    with pytest.raises(OutboundRefused) as caught:
        outbound.fetch("GET", f"http://localhost@evil.example:{server.port}/ok")
    assert "credentials (user@host)" in caught.value.message and "evil.example" in caught.value.message
    with pytest.raises(OutboundRefused, match="credentials"):
        outbound.fetch("GET", f"http://user:secret@127.0.0.1:{server.port}/ok")
    assert server.seen == []


# --- Addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("address, label", [
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("100.64.0.1", "CGNAT"), ("100.127.255.254", "CGNAT"),
    ("224.0.0.1", "multicast"), ("239.1.2.3", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("192.0.2.10", "reserved"),
    ("198.18.0.1", "reserved"), ("2001:db8::1", "reserved"),
    ("0.1.2.3", "unspecified"), ("::", "unspecified"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to classify, not to bind
    ("169.254.169.254", "cloud metadata"), ("169.254.170.2", "cloud metadata"),
    ("168.63.129.16", "cloud metadata"), ("100.100.100.200", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"),
    ("fc00::1", "private"), ("fd12:3456::1", "private"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("::ffff:169.254.169.254", "cloud metadata"),
    ("64:ff9b::a00:1", "private"), ("2002:7f00:1::", "loopback"),
])
def test_every_blocked_range_is_named(address, label):
    assert label in (outbound.classify(ipaddress.ip_address(address)) or "")


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_pass(address):
    assert outbound.classify(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("host", [
    "127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1", "localhost",
])
def test_loopback_in_every_spelling_is_refused_without_the_allow_list(server, no_allow_list, host):
    with pytest.raises(OutboundRefused) as caught:
        outbound.fetch("GET", f"http://{host}:{server.port}/ok")
    assert "loopback" in caught.value.message and "OUTBOUND_ALLOWED_NETWORKS" in caught.value.message
    assert server.seen == []  # refused before a single byte was sent


def test_the_allow_list_lets_loopback_through(server, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    answer = outbound.fetch("GET", server.url())
    assert answer.status == 200 and answer.json() == {"ok": True}


def test_an_allowed_host_name_may_resolve_to_a_private_address(server, no_allow_list, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["localhost"]
    assert outbound.fetch("GET", server.url(host="localhost")).status == 200
    with pytest.raises(OutboundRefused):
        outbound.fetch("GET", server.url(host="127.0.0.1"))


def test_metadata_is_only_allowed_when_named_exactly_and_unspecified_never(settings):
    metadata = ipaddress.ip_address("169.254.169.254")
    settings.OUTBOUND_ALLOWED_NETWORKS = ["169.254.0.0/16", "0.0.0.0/8"]
    assert outbound.refusal(ipaddress.ip_address("169.254.1.1")) is None
    assert outbound.refusal(metadata) == "cloud metadata"
    assert outbound.refusal(ipaddress.ip_address("0.0.0.0")) == "unspecified"  # noqa: S104
    settings.OUTBOUND_ALLOWED_HOSTS = ["metadata.google.internal"]
    assert outbound.refusal(metadata, "metadata.google.internal") == "cloud metadata"
    settings.OUTBOUND_ALLOWED_NETWORKS = ["169.254.169.254/32"]
    assert outbound.refusal(metadata) is None


def test_a_name_with_one_private_address_among_public_ones_is_refused(no_allow_list, monkeypatch):
    def two_answers(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr(socket, "getaddrinfo", two_answers)
    with pytest.raises(OutboundRefused, match=re.escape("10.0.0.5, which is a private address")):
        outbound.fetch("GET", "https://mixed.example/x")


def test_check_url_applies_the_same_rules_before_saving(no_allow_list):
    with pytest.raises(OutboundRefused, match="loopback"):
        outbound.check_url("https://localhost/events")
    with pytest.raises(OutboundRefused, match="credentials"):
        outbound.check_url("https://localhost@93.184.216.34/events")
    assert outbound.check_url("https://93.184.216.34/events").hostname == "93.184.216.34"


# --- The connection goes to the checked address ---------------------------------------------------


def test_the_name_is_resolved_once_and_the_checked_address_is_the_one_connected(server, fake_dns, settings):
    answers, lookups = fake_dns
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    # A rebinding name: the first answer passes the check, any later one points elsewhere.
    answers["rebind.test"] = ["127.0.0.1", "10.9.9.9"]
    answer = outbound.fetch("GET", server.url(host="rebind.test"))
    assert answer.status == 200
    assert lookups == ["rebind.test"]
    assert server.seen[0][2] == f"rebind.test:{server.port}"  # the Host header keeps the name


def test_a_name_that_resolves_to_loopback_at_connect_time_is_refused(server, fake_dns, no_allow_list):
    answers, _ = fake_dns
    answers["rebind.test"] = ["127.0.0.1"]
    expected = "rebind.test resolves to 127.0.0.1, which is a loopback address"
    with pytest.raises(OutboundRefused, match=re.escape(expected)):
        outbound.fetch("GET", server.url(host="rebind.test"))
    assert server.seen == []


def _certificate(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


def test_tls_is_verified_for_the_name_while_connecting_to_the_pinned_address(tmp_path, fake_dns, settings):
    answers, lookups = fake_dns
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    answers["idp.test"] = ["127.0.0.1"]
    context, ca = _certificate(tmp_path, "idp.test")
    with run_server(context) as tls:
        answer = outbound.fetch("GET", tls.url(host="idp.test"), verify=str(ca))
        assert answer.json() == {"ok": True} and lookups == ["idp.test"]
        # The same server by its address: the certificate does not name it, so it is refused.
        with pytest.raises(OutboundUnavailable, match=re.escape("TLS certificate of 127.0.0.1 was refused")):
            outbound.fetch("GET", tls.url(host="127.0.0.1"), verify=str(ca))


# --- Redirects ----------------------------------------------------------------------------------


def test_a_redirect_within_the_origin_is_followed(server):
    answer = outbound.fetch("GET", server.url("/same-origin"))
    assert answer.status == 200 and answer.json() == {"ok": True}
    assert [s[1] for s in server.seen] == ["/same-origin", "/ok"]


def test_307_keeps_the_post_and_303_turns_it_into_a_get(server):
    assert outbound.fetch("POST", server.url("/keep-post"), data=b"set").json() == {"method": "POST", "body": "set"}
    assert outbound.fetch("POST", server.url("/see-other"), data=b"set").json() == {"method": "GET", "body": ""}


def test_a_redirect_to_another_origin_is_refused(server):
    with pytest.raises(OutboundRefused, match=r"redirected to http://localhost:\d+/ok, another origin"):
        outbound.fetch("GET", server.url("/other-origin"))
    assert [s[1] for s in server.seen] == ["/other-origin"]
    with pytest.raises(OutboundRefused, match="another origin"):
        outbound.fetch("GET", server.url("/to-file"))


def test_a_redirect_is_returned_as_is_when_not_followed_and_loops_end(server):
    answer = outbound.fetch("GET", server.url("/other-origin"), follow_redirects=False)
    assert answer.status == 302 and answer.headers["Location"].endswith("/ok")
    with pytest.raises(OutboundBadAnswer, match="more than 5 times"):
        outbound.fetch("GET", server.url("/loop"))


def test_the_session_never_follows_redirects_nor_uses_a_proxy(server):
    client = outbound.session()
    assert client.get(server.url("/same-origin")).status_code == 302
    with pytest.raises(OutboundRefused, match="proxy"):
        client.get(server.url(), proxies={"http": "http://10.0.0.1:3128"})
    with pytest.raises(OutboundRefused, match="not file://"):
        client.send(requests.Request("GET", "file:///etc/passwd").prepare())


# --- Size and time ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/big-declared", "/big-undeclared"])
def test_answers_past_the_size_cap_are_not_read(server, path):
    with pytest.raises(OutboundBadAnswer, match="larger than 1000 bytes"):
        outbound.fetch("GET", server.url(path), max_bytes=1000)
    assert len(outbound.fetch("GET", server.url(path), max_bytes=100_000).content) in (5000, 50_000)


def test_a_server_that_does_not_answer_in_time_is_unavailable(server):
    started = time.monotonic()
    with pytest.raises(OutboundUnavailable) as caught:
        outbound.fetch("GET", server.url("/slow"), timeout=(2, 0.3))
    assert caught.value.retryable and caught.value.stage == "answer" and "within 0.3 s" in caught.value.message
    assert time.monotonic() - started < 1.4


def test_a_trickling_answer_is_cut_at_the_total_time_limit(server):
    with pytest.raises(OutboundUnavailable, match=re.escape("longer than 0.5 s")):
        outbound.fetch("GET", server.url("/trickle"), total_timeout=0.5)


def test_a_closed_port_is_unavailable_not_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OutboundUnavailable) as caught:
        outbound.fetch("GET", f"http://127.0.0.1:{port}/")
    assert caught.value.reason == "connection refused" and caught.value.stage == "connect"


# --- Settings -----------------------------------------------------------------------------------


def _settings_in(env: dict[str, str]) -> subprocess.CompletedProcess:
    from console.core.tests.test_settings_and_crypto import PRODUCTION, ROOT

    clean = {k: v for k, v in os.environ.items()
             if k not in PRODUCTION and not k.startswith(("PYTEST", "OUTBOUND_")) and k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    code = "from django.conf import settings; print(settings.OUTBOUND_ALLOWED_NETWORKS)"
    return subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=clean | env,
                          capture_output=True, text=True, timeout=60)


def test_production_allows_no_private_network_unless_told_and_a_bad_network_stops_start_up():
    from console.core.tests.test_settings_and_crypto import PRODUCTION

    assert _settings_in(PRODUCTION).stdout.strip().endswith("[]")
    assert _settings_in({"CONSOLE_ENV": "development", "DJANGO_SETTINGS_MODULE": "console.settings"}
                        ).stdout.strip().endswith("['127.0.0.0/8', '::1/128']")
    told = _settings_in(PRODUCTION | {"OUTBOUND_ALLOWED_NETWORKS": "10.20.0.0/16"})
    assert told.stdout.strip().endswith("['10.20.0.0/16']")
    bad = _settings_in(PRODUCTION | {"OUTBOUND_ALLOWED_NETWORKS": "10.0.0.0/33"})
    assert bad.returncode != 0 and "OUTBOUND_ALLOWED_NETWORKS" in bad.stderr


def test_no_server_code_fetches_around_the_helper():
    """Server-side requests go through console/core/outbound.py (tests and test helpers, which
    play the other side, may use what they like)."""
    root = Path(__file__).resolve().parents[3]
    direct = re.compile(r"requests\.(get|post|put|patch|delete|head|request|Session)\(|urlopen\(|urllib\.request"
                        r"|^\s*(import|from) httpx|http\.client\.HTTPS?Connection\(|PyJWKClient\(", re.M)
    offenders = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root).as_posix()
        if (relative.startswith((".venv/", "var/", "console/testing/")) or "/tests/" in relative
                or "node_modules" in relative
                or relative.endswith(("testing.py", "console/core/outbound.py")) or relative.startswith("bench/")):
            continue
        if direct.search(path.read_text(encoding="utf-8", errors="replace")):
            offenders.append(relative)
    assert offenders == [], f"fetch through console.core.outbound instead: {offenders}"
