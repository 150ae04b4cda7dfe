"""A real SET receiver for tests: a small threaded HTTP server on loopback that accepts RFC 8935
pushes, verifies each SET's signature against the transmitter's JWKS fetched over HTTP, checks
the claims SSF 1.0 requires, and keeps what it accepted.

    with run_set_receiver(jwks_url=f"{live_server.url}/ssf/jwks.json", issuer=live_server.url,
                          audience="https://rx.example") as receiver:
        stream = ...  # a push stream to receiver.url
        ...           # something that publishes
        [claims] = receiver.wait_for(1)
        assert claims["events"][USER_RISK_CHANGE]["current_level"] == "high"

``push_stream(receiver, issuer=live_server.url)`` creates the stream to it.
``receiver.stop()`` / ``receiver.start()`` take it down and bring it back on the same port;
``receiver.fail_next(n)`` answers the next ``n`` pushes with HTTP 503."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt

from risk.ssf import services
from risk.ssf.models import PUSH

SET_CONTENT_TYPE = "application/secevent+jwt"


class SetReceiver:
    def __init__(self, *, jwks_url: str, issuer: str | None, audience: str | None, authorization: str | None,
                 host: str = "127.0.0.1") -> None:
        self.jwks_url, self.issuer, self.audience, self.authorization = jwks_url, issuer, audience, authorization
        self.host, self.port = host, 0
        self.received: list[dict[str, Any]] = []  # verified claims, in arrival order, duplicates left out
        self.headers: list[dict[str, Any]] = []   # the JOSE headers of what was accepted
        self.duplicates: list[str] = []           # jti values pushed more than once
        self.rejected: list[str] = []             # why pushes were refused
        self.attempts = 0                         # every POST that reached us
        self._failures = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- Lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/events"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = receiver._receive(self.headers, body)
                self.send_response(status)
                if answer is not None:
                    data = json.dumps(answer).encode()
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Go down: connections to the port are refused until ``start()``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures = count

    # --- Receiving ----------------------------------------------------------------------------

    def _jwks(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.jwks_url, timeout=10) as response:  # noqa: S310 - loopback in tests
            return json.loads(response.read())

    def _receive(self, headers: Any, body: bytes) -> tuple[int, dict | None]:
        with self._lock:
            self.attempts += 1
            if self._failures:
                self._failures -= 1
                return 503, {"err": "unavailable", "description": "receiver told to fail"}
        if self.authorization is not None and headers.get("Authorization") != self.authorization:
            return self._refuse(401, "authentication_failed", "wrong or missing Authorization header")
        if (headers.get("Content-Type") or "").split(";")[0].strip() != SET_CONTENT_TYPE:
            return self._refuse(400, "invalid_request", f"Content-Type must be {SET_CONTENT_TYPE}")
        token = body.decode()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            return self._refuse(400, "invalid_request", f"not a JWT: {exc}")
        if header.get("typ") != "secevent+jwt" or header.get("alg") != "RS256" or not header.get("kid"):
            return self._refuse(400, "invalid_request", f"bad JOSE header {header}")
        keys = {k["kid"]: k for k in self._jwks().get("keys", [])}
        if header["kid"] not in keys:
            return self._refuse(400, "invalid_key", f"kid {header['kid']} is not in the JWKS")
        try:
            claims = jwt.decode(
                token, jwt.PyJWK(keys[header["kid"]]).key, algorithms=["RS256"], audience=self.audience,
                issuer=self.issuer, options={"verify_aud": self.audience is not None,
                                             "require": ["iss", "aud", "jti", "iat"]},
            )
        except jwt.InvalidIssuerError as exc:
            return self._refuse(400, "invalid_issuer", str(exc))
        except jwt.InvalidAudienceError as exc:
            return self._refuse(400, "invalid_audience", str(exc))
        except jwt.InvalidTokenError as exc:
            return self._refuse(400, "invalid_request", str(exc))
        problems = [p for p, bad in (
            ("a SET carries no sub claim", "sub" in claims),
            ("a SET carries no exp claim", "exp" in claims),
            ("sub_id is required", not isinstance(claims.get("sub_id"), dict)),
            ("events must hold exactly one event", not (isinstance(claims.get("events"), dict)
                                                        and len(claims["events"]) == 1)),
        ) if bad]
        if problems:
            return self._refuse(400, "invalid_request", "; ".join(problems))
        with self._lock:
            if any(c["jti"] == claims["jti"] for c in self.received):
                self.duplicates.append(claims["jti"])
            else:
                self.received.append(claims)
                self.headers.append(header)
        return 202, None

    def _refuse(self, status: int, err: str, description: str) -> tuple[int, dict]:
        with self._lock:
            self.rejected.append(f"{err}: {description}")
        return status, {"err": err, "description": description}

    # --- Reading ------------------------------------------------------------------------------

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The first ``count`` verified SETs, waiting up to ``timeout`` seconds for them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received[:count])
            time.sleep(0.05)
        raise AssertionError(f"expected {count} verified SET(s), got {len(self.received)}; refused: {self.rejected}")

    def events_of(self, event_type: str) -> list[dict[str, Any]]:
        """The accepted SETs of one event type."""
        with self._lock:
            return [c for c in self.received if event_type in c["events"]]


def push_stream(receiver: SetReceiver, *, issuer: str, events_requested: list[str] | None = None):
    """A push stream from this transmitter to ``receiver`` (its ``audience``, or the origin of its
    URL), created as the system would; returns the ``Stream``."""

    return services.stream_create(actor=None, system=True, issuer=issuer, delivery_method=PUSH,
                                  endpoint_url=receiver.url,
                                  audience=[receiver.audience] if receiver.audience else None,
                                  events_requested=events_requested)


@contextmanager
def run_set_receiver(*, jwks_url: str, issuer: str | None = None, audience: str | None = None,
                     authorization: str | None = None) -> Iterator[SetReceiver]:
    """A running receiver on 127.0.0.1 (a free port); push streams point at ``receiver.url``.
    ``issuer`` and ``audience``, when given, must match each SET's ``iss`` and ``aud``;
    ``authorization``, when given, must be the pushes' Authorization header."""
    receiver = SetReceiver(jwks_url=jwks_url, issuer=issuer, audience=audience, authorization=authorization)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
