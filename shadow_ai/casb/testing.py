"""A vendor API on loopback for tests: a small threaded HTTP server that answers each request from
routes the test registers, replaying responses shaped like the vendor's documented ones, and
records what it was asked. Scripts of answers (a 429 first, then the page) and a delay per
request (a slow vendor, to stop a worker mid-scan) are built in.

Also ``collect``: run a connector's steps the way the scanner does, without a database, so each
connector's tests can look at exactly what it reports."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shadow_ai.casb import schemacheck
from shadow_ai.casb.connectors import http as vendor_http
from shadow_ai.casb.connectors.base import Connector, Context, DlpCheck, Observation, Skip
from shadow_ai.dlp import engine as dlp_engine

# The replayed payloads date things relative to this moment (taken once, when tests start), so
# a worker process using the real clock sees the same ages as a test using this one.
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return b"" if self.body is None else json.dumps(self.body).encode()


Handler = Callable[[Request], Response | Any]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client stopped reading (a download cut off at its cap), as clients may
        super().handle_error(request, client_address)


class Script:
    """Answers taken one per request; the last one repeats (``Script(Response(429, ...), page)``)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def next(self) -> Any:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class VendorServer:
    """``server.route("GET", "/v1/x", answer)``: a ``Response``, a handler ``f(request)``, a
    ``Script`` of answers, or a plain value sent as JSON with 200."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Any] = {}
        self.requests: list[Request] = []
        self.observers: list[Callable[[Request, Response], None]] = []
        self.delay = 0.0
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle and delayed ACKs add
            # 40 ms to every keep-alive request.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                response = server.answer(request)
                if server.delay:
                    time.sleep(server.delay)
                payload = response.encode()
                self.send_response(response.status)
                headers = {"Content-Type": "application/json", **response.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _serve

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> VendorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def route(self, method: str, path: str, answer: Any) -> None:
        self.routes[(method.upper(), path)] = answer

    def answer(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            found = self.routes.get((request.method, request.path))
            if isinstance(found, Script):
                found = found.next()
        if found is None:
            return Response(404, {"error": {"message": f"No route for {request.method} {request.path}"}})
        result = found(request) if callable(found) else found
        response = result if isinstance(result, Response) else Response(200, result)
        for observe in self.observers:
            observe(request, response)
        return response

    def hits(self, path: str, method: str = "GET") -> list[Request]:
        return [r for r in self.requests if r.path == path and r.method == method]


def after_cursor_pages(rows: list[dict], *, size: int, cursor_param: str = "after", id_field: str = "id",
                       envelope: Callable[[list[dict], bool], dict] | None = None) -> Handler:
    """A list endpoint paged the OpenAI / Anthropic way: ``limit`` + ``after`` (an id) in,
    ``data``, ``first_id``, ``last_id``, ``has_more`` out."""

    def handler(request: Request) -> dict:
        after = request.arg(cursor_param)
        start = 0
        if after:
            start = next(i for i, row in enumerate(rows) if row[id_field] == after) + 1
        chunk = rows[start:start + size]
        more = start + size < len(rows)
        if envelope:
            return envelope(chunk, more)
        return {"object": "list", "data": chunk, "first_id": chunk[0][id_field] if chunk else None,
                "last_id": chunk[-1][id_field] if chunk else None, "has_more": more}

    return handler


def token_pages(rows: list[dict], *, size: int, key: str, extra: Mapping[str, Any] | None = None) -> Handler:
    """A list paged the Google way: ``pageToken`` in, ``nextPageToken`` out."""

    def handler(request: Request) -> dict:
        start = int(request.arg("pageToken") or 0)
        chunk = rows[start:start + size]
        body = {**(extra or {}), key: chunk}
        if start + size < len(rows):
            body["nextPageToken"] = str(start + size)
        return body

    return handler


@dataclass
class Collected:
    observations: list[Observation]
    skipped: dict[str, str]
    state: dict[str, Any]
    warnings: list[str]

    def of(self, type_key: str) -> list[Observation]:
        return [o for o in self.observations if o.type_key == type_key]

    def keys(self, type_key: str) -> set[str]:
        return {o.key for o in self.of(type_key)}

    def types(self) -> set[str]:
        return {o.type_key for o in self.observations}


def collect(connector: Connector, ctx: Context, *, max_pages: int = 1000) -> Collected:
    """Every observation of a full scan, following cursors like the scanner (no database)."""
    found: list[Observation] = []
    skipped: dict[str, str] = {}
    for step in connector.steps(ctx):
        cursor: str | None = None
        for _ in range(max_pages):
            try:
                page = step.fetch(ctx, cursor)
            except Skip as exc:
                skipped[step.key] = exc.message
                break
            found.extend(page.observations)
            cursor = page.next_cursor
            if cursor is None:
                break
    return Collected(found, skipped, ctx.state, list(ctx.warnings))


def predefined_dlp(*keys: str, max_bytes: int = 4096) -> DlpCheck:
    """A ``ctx.dlp`` of predefined profiles (``"financial_information"``…), built without a
    database the way the scanner compiles an integration's profiles."""
    profiles = []
    for number, spec in enumerate(dlp_engine.PREDEFINED_PROFILES, start=1):
        if spec.key in keys:
            entries = tuple(dlp_engine.ENTRIES_BY_KEY[k] for k in spec.entry_keys)
            profiles.append(dlp_engine.Profile(id=number, name=spec.name, entries=entries))
    return DlpCheck(tuple(profiles), max_bytes)


def iter_json_lines(items: Iterable[dict]) -> bytes:
    return b"\n".join(json.dumps(i).encode() for i in items)


class SchemaWatch:
    """Holds a connector's whole conversation with a replayed vendor against the vendor's
    published schema (``shadow_ai/casb/schemacheck.py``): every JSON answer the replay server
    sends on a documented route is validated, and every answer the connector decodes is handed
    to it as mappings that record which members it reads.

    ``watch = SchemaWatch(document).attach(vendor_server, monkeypatch)``; after the scan,
    ``watch.problems`` (fixture members or types the vendor does not document),
    ``watch.undocumented_reads()`` (members the mapping read that the vendor does not document)
    and ``watch.unchecked`` (paths served that the document has no route for)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.problems: list[str] = []
        self.checked: set[str] = set()
        self.unchecked: set[str] = set()
        self.reads = schemacheck.ReadLog()

    def attach(self, server: VendorServer, monkeypatch: Any) -> SchemaWatch:
        server.observers.append(self._served)
        original = vendor_http.VendorHTTP.request
        watch = self

        def request(self: Any, method: str, path: str, **kwargs: Any) -> Any:
            reply = original(self, method, path, **kwargs)
            schema = schemacheck.route_schema(watch.document, method, urlsplit(reply.url).path)
            if schema is None or not isinstance(reply.data, dict | list):
                return reply
            return replace(reply, data=watch.reads.wrap(watch.document, schema, reply.data))

        monkeypatch.setattr(vendor_http.VendorHTTP, "request", request)
        return self

    def _served(self, request: Request, response: Response) -> None:
        schema = schemacheck.route_schema(self.document, request.method, request.path)
        if schema is None:
            self.unchecked.add(f"{request.method} {request.path}")
            return
        if response.status != 200 or response.raw is not None:
            return
        self.checked.add(f"{request.method} {request.path}")
        for problem in schemacheck.validate(self.document, schema, response.body):
            self.problems.append(f"{request.method} {request.path}: {problem}")

    def undocumented_reads(self) -> list[str]:
        return sorted(set(self.reads.undocumented()))
