"""Local HTTPS sites for tests and benchmarks: a throwaway CA, a certificate per hostname, and a
threaded HTTPS server per site that answers like a web application (a page for GET, a JSON
answer for POST) and remembers what it received. The web gateway's test mode maps real hostnames
(``chatgpt.com``) to these loopback servers."""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class TestAuthority:
    """A CA that signs the sites' certificates (what the gateway's upstream verification trusts)."""

    def __init__(self, name: str = "Test upstream CA") -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="test-sites-"))
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self.name = name
        self.certificate = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = self.directory / "ca.pem"
        self.ca_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue(self, hostname: str) -> tuple[Path, Path]:
        """(certificate file, key file) for ``hostname`` and its subdomains."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder().subject_name(_name(hostname)).issuer_name(self.certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname), x509.DNSName(f"*.{hostname}")]),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = self.directory / f"{hostname}.pem", self.directory / f"{hostname}.key"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, key_file


@dataclass
class Received:
    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: _SiteServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self, body: bytes) -> None:
        self.server.received.append(Received(self.command, self.path, body, dict(self.headers.items())))

    def do_GET(self) -> None:
        self._record(b"")
        site = self.server.site_name
        # A page with a prompt form, as a person would use an AI application (no script needed).
        self._answer(200, "text/html; charset=utf-8", (
            f"<!doctype html><title>{site}</title><h1 data-site=\"{site}\">{site}</h1>"
            "<form method=\"post\" action=\"/api/prompt\"><textarea name=\"prompt\"></textarea>"
            "<button type=\"submit\">Send</button></form>").encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._record(body)
        if "html" in self.headers.get("Accept", ""):  # the form above, submitted
            answer = f"<!doctype html><title>Answer</title><p data-answer>{self.server.site_name} answered</p>"
            self._answer(200, "text/html; charset=utf-8", answer.encode())
            return
        self._answer(200, "application/json", json.dumps({"site": self.server.site_name, "ok": True}).encode())


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    site_name = ""
    received: list[Received]


class Site:
    """One HTTPS site on 127.0.0.1 with a certificate for ``hostname`` from ``authority``."""

    def __init__(self, authority: TestAuthority, hostname: str, *, name: str = "") -> None:
        self.hostname = hostname
        self.server = _SiteServer(("127.0.0.1", 0), _Handler)
        self.server.site_name = name or hostname
        self.server.received = []
        cert_file, key_file = authority.issue(hostname)
        self.cert_file = cert_file
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def received(self) -> list[Received]:
        return self.server.received

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
