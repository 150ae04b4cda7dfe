"""The web gateway's mitmproxy addon: who is browsing, what the Gateway HTTP policies decide for
each request, and a ``gateway_http`` log row for each.

* **Who.** A CONNECT (HTTPS) or a plain HTTP request must carry ``Proxy-Authorization: Basic``
  whose password is a person's gateway credential (``credentials``); otherwise the answer is a
  407 and the refusal is logged. A CONNECT's person is remembered for its client connection.
* **Do not inspect** is decided at the TLS ClientHello from the SNI: the connection is then
  passed through untouched (the browser sees the site's own certificate) and logged once.
* **Every other decision** is made per request, in process, by ``runtime.evaluate`` over the
  compiled policies and the people Access caches (no database query in the steady state):
  allow, block (a redirect to the console's signed block page for a page load, a 403 JSON answer
  otherwise), redirect (to the approved alternative), isolate (a notice: remote browser isolation
  is not part of this gateway). Every inspected request with a body goes to the registered
  sinks (``inspection.hand_off``): the prompt log's writer reports jailbreak attempts to risk
  and stores captured prompts, off the event loop.
* **Policies that cannot be loaded** refuse every request (``GATEWAY_FAIL_MODE=closed``, the
  default) or let it through, logged (``open``)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from mitmproxy import connection, http, tls
from mitmproxy.proxy import server_hooks

from console.access import decisions
from shadow_ai import hostnames
from shadow_ai.gateway import credentials, engine, inspection, logsink, runtime
from shadow_ai.gateway.api import block_page_token

log = logging.getLogger(__name__)
REALM = "Zero Trust Console web gateway"
HTML_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; base-uri 'none'; form-action 'none'"}
TEXTUAL = ("json", "text/", "x-www-form-urlencoded", "xml", "graphql")


@dataclass(frozen=True)
class Identity:
    user_id: int
    email: str
    credential_id: int


@dataclass
class Outcome:
    """What the gateway did with a request, for its log row."""

    action: str
    policy: engine.CompiledPolicy | None = None
    app: engine.AppFacts | None = None
    dlp: tuple[str, ...] = ()
    redirect: str = ""
    isolated: bool = False


def _console_host() -> str:
    return (urlsplit(settings.CONSOLE_URL).hostname or "").lower()


def _console_address() -> tuple[str, int]:
    parts = urlsplit(settings.CONSOLE_URL)
    return (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def _test_upstreams() -> dict[str, tuple[str, int]]:
    """``GATEWAY_TEST_UPSTREAMS``: ``host=127.0.0.1:port`` pairs (test mode only)."""
    mapping: dict[str, tuple[str, int]] = {}
    for item in filter(None, (part.strip() for part in settings.GATEWAY_TEST_UPSTREAMS.split(","))):
        host, _, address = item.partition("=")
        ip, _, port = address.rpartition(":")
        mapping[host.strip().lower()] = (ip, int(port))
    return mapping


class Gateway:
    """The addon. One per gateway process; it keeps no state another process would need."""

    def __init__(self) -> None:
        self.identities: weakref.WeakKeyDictionary[connection.Client, Identity] = weakref.WeakKeyDictionary()
        self.console_host = _console_host()
        self.test_upstreams = _test_upstreams()
        # Test mode reaches the mapped sites and the console itself (the block page), nothing else.
        self.test_addresses = {*self.test_upstreams.values(), _console_address()}
        self.requests = 0
        self.started = time.monotonic()
        self.ready = asyncio.Event()

    def running(self) -> None:
        """mitmproxy has configured its addons (the CA is loaded) and listens."""
        self.ready.set()

    # --- Who ------------------------------------------------------------------------------

    def _identify(self, header: str) -> Identity | None:
        known = credentials.authenticate(credentials.basic_password(header))
        if known is None:
            return None
        person = decisions.person_by_id(known.user_id)
        if person is None:
            return None
        return Identity(known.user_id, person.user.email, known.id)

    def _refuse_unauthenticated(self, flow: http.HTTPFlow) -> None:
        body = render_to_string("shadow_ai/gateway/proxy_auth.html", {"realm": REALM})
        flow.response = http.Response.make(407, body, {**HTML_HEADERS, "Proxy-Authenticate": f'Basic realm="{REALM}"'})
        flow.metadata["gateway"] = Outcome("block")

    def http_connect(self, flow: http.HTTPFlow) -> None:
        identity = self._identify(flow.request.headers.get("Proxy-Authorization", ""))
        if identity is None:
            self._refuse_unauthenticated(flow)
            self._log(flow, None)
            return
        self.identities[flow.client_conn] = identity
        self._route(flow)

    def _route(self, flow: http.HTTPFlow) -> None:
        """Test mode: send the request to the local server standing in for its host."""
        if not self.test_upstreams:
            return
        target = self.test_upstreams.get(flow.request.host.lower())
        if target is not None:  # a CONNECT, or a plain HTTP request (not one inside a mapped tunnel)
            shown = flow.request.host_header
            flow.request.host, flow.request.port = target
            if flow.request.method != "CONNECT":
                flow.request.host_header = shown  # the site's name stays what the request says

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Test mode refuses every upstream it does not map (the browser's own background traffic)
        but the console."""
        if self.test_upstreams and data.server.address is not None:
            address = (str(data.server.address[0]).lower(), data.server.address[1])
            if address not in self.test_addresses:
                data.server.error = "refused: the gateway's test mode reaches only its mapped hosts"

    # --- Do not inspect (TLS ClientHello) ------------------------------------------------------

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        identity = self.identities.get(data.context.client)
        sni = data.client_hello.sni or ""
        if identity is None or not sni:
            return
        try:
            host = hostnames.normalize(sni)
            outcome = runtime.evaluate(hostname=host, email=identity.email)
        except Exception:
            log.exception("gateway: deciding the TLS connection to %s failed; it is inspected", sni)
            return
        if outcome.decision.action == engine.Action.DO_NOT_INSPECT:
            data.ignore_connection = True
            self._log_row(identity=identity, host=host, url=f"https://{host}/", method="CONNECT", status=0,
                          outcome=Outcome("do_not_inspect", outcome.decision.policy, outcome.request.app),
                          client=data.context.client, user_agent="", sent=0, received=0)

    # --- Every request -------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.request.method == "CONNECT" or flow.response is not None:
            return
        identity = self.identities.get(flow.client_conn)
        if identity is None:
            identity = self._identify(flow.request.headers.get("Proxy-Authorization", ""))
            if identity is None:
                self._refuse_unauthenticated(flow)
                return
        flow.metadata["gateway_identity"] = identity
        flow.request.headers.pop("Proxy-Authorization", None)
        self._route(flow)

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.request.method == "CONNECT" or flow.response is not None:
            return
        identity: Identity = flow.metadata["gateway_identity"]
        host = flow.request.pretty_host.lower()
        if host == self.console_host:
            flow.metadata["gateway"] = Outcome("allow")
            return
        self.requests += 1
        try:
            evaluation = runtime.evaluate(hostname=hostnames.normalize(host), email=identity.email,
                                          url=flow.request.pretty_url, method=flow.request.method,
                                          body=_inspected_text(flow.request), upload_types=upload_types(flow.request))
        except Exception:  # noqa: BLE001 - whatever failed, the fail mode decides (logged in _fail)
            self._fail(flow, host)
            return
        self._apply(flow, identity, evaluation)

    def _fail(self, flow: http.HTTPFlow, host: str) -> None:
        reference = uuid.uuid4().hex
        log.exception("gateway: deciding %s failed (%s); failing %s", host, reference, settings.GATEWAY_FAIL_MODE)
        if settings.GATEWAY_FAIL_MODE == "open":
            flow.metadata["gateway"] = Outcome("allow")
            return
        body = render_to_string("shadow_ai/gateway/unavailable.html", {"host": host, "reference": reference})
        flow.response = http.Response.make(503, body, HTML_HEADERS)
        flow.metadata["gateway"] = Outcome("block")

    def _apply(self, flow: http.HTTPFlow, identity: Identity, evaluation: runtime.Evaluation) -> None:
        decision = evaluation.decision
        app = evaluation.request.app
        dlp = tuple(hit.name for hit in decision.dlp.triggered) if decision.dlp else ()
        outcome = Outcome(decision.action.value, decision.policy, app, dlp)
        flow.metadata["gateway"] = outcome
        if decision.action == engine.Action.BLOCK:
            self._block(flow, decision, app)
        elif decision.action == engine.Action.REDIRECT and decision.redirect_to is not None:
            outcome.redirect = decision.redirect_to.url
            status = 302 if flow.request.method in ("GET", "HEAD") else 307
            flow.response = http.Response.make(status, b"", {"Location": outcome.redirect, "Cache-Control": "no-store"})
        elif decision.action == engine.Action.ISOLATE:
            outcome.isolated = True
            body = render_to_string("shadow_ai/gateway/isolated.html", {
                "application": app.name if app else flow.request.pretty_host,
                "policy": decision.policy.name if decision.policy else "",
                "controls": decision.isolation.label if decision.isolation else "",
            })
            flow.response = http.Response.make(403, body, HTML_HEADERS)
        # Jailbreak attempts and captured prompts: queued for the registered sinks (no database here).
        inspection.hand_off(inspection.of(decision=decision, request=evaluation.request,
                                          user_id=evaluation.user.pk if evaluation.user else None,
                                          email=identity.email))

    def _block(self, flow: http.HTTPFlow, decision: engine.Decision, app: engine.AppFacts | None) -> None:
        host = flow.request.pretty_host
        message = decision.block_message or decision.reason
        token = block_page_token(hostname=host, application=app.name if app else host,
                                 policy=decision.policy.name if decision.policy else "", message=message,
                                 alternative=decision.alternative)
        page = settings.CONSOLE_URL.rstrip("/") + reverse("shadow_ai:blocked") + f"?t={token}"
        # A page load or a form a person submitted: show them the page (303: the browser GETs it).
        wants_page = flow.request.method in ("GET", "POST") and "html" in flow.request.headers.get("Accept", "")
        if wants_page:
            status = 302 if flow.request.method == "GET" else 303
            flow.response = http.Response.make(status, b"", {"Location": page, "Cache-Control": "no-store"})
            return
        body = {"error": {"type": "blocked_by_gateway", "message": message, "block_page": page}}
        flow.response = http.Response.make(403, _json(body), {"Content-Type": "application/json",
                                                              "Cache-Control": "no-store"})

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        # Large downloads stream through rather than being held in memory; their size is counted.
        length = flow.response.headers.get("Content-Length", "") if flow.response else ""
        if length.isdigit() and int(length) > settings.GATEWAY_INSPECT_MAX_BYTES:
            flow.response.stream = True

    def response(self, flow: http.HTTPFlow) -> None:
        self._log(flow, flow.metadata.get("gateway_identity") or self.identities.get(flow.client_conn))

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.request.method != "CONNECT" or "gateway" in flow.metadata:
            self._log(flow, flow.metadata.get("gateway_identity"))

    # --- Logging -------------------------------------------------------------------------------

    def _log(self, flow: http.HTTPFlow, identity: Identity | None) -> None:
        outcome: Outcome | None = flow.metadata.get("gateway")
        if outcome is None or flow.metadata.get("gateway_logged"):
            return
        if flow.request.method == "CONNECT" and outcome.action != "block":
            return  # the requests inside the tunnel are logged, not the tunnel
        if flow.request.pretty_host.lower() == self.console_host and outcome.action == "allow":
            return
        flow.metadata["gateway_logged"] = True
        response = flow.response
        received = 0
        if response is not None:
            received = len(response.raw_content) if response.raw_content is not None else int(
                response.headers.get("Content-Length", "0") or 0)
        self._log_row(identity=identity, host=flow.request.pretty_host, url=flow.request.pretty_url,
                      method=flow.request.method, status=response.status_code if response else 0, outcome=outcome,
                      client=flow.client_conn, user_agent=flow.request.headers.get("User-Agent", ""),
                      sent=len(flow.request.raw_content or b""), received=received)

    def _log_row(self, *, identity: Identity | None, host: str, url: str, method: str, status: int, outcome: Outcome,
                 client: connection.Client, user_agent: str, sent: int, received: int) -> None:
        app = outcome.app
        row: dict[str, Any] = {
            "RequestID": uuid.uuid4().hex, "Datetime": datetime.now(UTC).isoformat(),
            "Email": identity.email if identity else "", "HTTPHost": host.lower(), "URL": url[:2000],
            "HTTPMethod": method, "HTTPStatusCode": status, "Action": outcome.action,
            "PolicyName": outcome.policy.name if outcome.policy else "",
            "PolicyID": str(outcome.policy.id) if outcome.policy else "",
            "ApplicationIDs": [app.id] if app else [], "ApplicationNames": [app.name] if app else [],
            "CategoryNames": [app.category] if app else [],
            "UploadMatchedDlpProfiles": list(outcome.dlp), "IsIsolated": outcome.isolated,
            "RedirectTargetURI": outcome.redirect, "SourceIP": client.peername[0] if client.peername else None,
            "UserAgent": user_agent[:300], "UploadBytes": sent, "DownloadBytes": received,
        }
        logsink.record(row)


FILENAME = re.compile(rb'filename\*?=(?:UTF-8\'\')?"?([^";\r\n]+)', re.IGNORECASE)
MIME_TYPES = {"application/pdf": "pdf", "application/zip": "zip", "application/x-zip-compressed": "zip",
              "application/msword": "doc", "text/csv": "csv", "image/png": "png", "image/jpeg": "jpg",
              "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
              "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
              "application/x-msdownload": "exe", "application/gzip": "gz", "application/x-7z-compressed": "7z"}


def upload_types(request: http.Request) -> frozenset[str]:
    """Extensions of the files a request uploads: the file names of a multipart form (or of a
    ``Content-Disposition`` header), else the body's media type."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return frozenset()
    kind = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    names: list[bytes] = []
    if kind.startswith("multipart/") and request.raw_content:
        names = FILENAME.findall(request.raw_content[:1_000_000])
    elif "Content-Disposition" in request.headers:
        names = FILENAME.findall(request.headers["Content-Disposition"].encode())
    found = {name.rsplit(b".", 1)[1].decode("ascii", "replace").lower() for name in names if b"." in name}
    if not found and kind in MIME_TYPES:
        found.add(MIME_TYPES[kind])
    return frozenset(found)


def _inspected_text(request: http.Request) -> str:
    """The request body as text, when it is text and not larger than ``GATEWAY_INSPECT_MAX_BYTES``."""
    raw = request.raw_content
    if not raw or len(raw) > settings.GATEWAY_INSPECT_MAX_BYTES:
        return ""
    kind = request.headers.get("Content-Type", "").lower()
    if kind and not any(marker in kind for marker in TEXTUAL):
        return ""
    try:
        return (request.get_text(strict=False) or "")[: settings.GATEWAY_INSPECT_MAX_BYTES]
    except ValueError:  # an encoding mitmproxy cannot undo
        return ""


def _json(value: Any) -> bytes:
    return orjson.dumps(value)
