"""HTTP to vendor APIs, the same way for every connector, through the outbound policy of
console/core/outbound.py (addresses checked and pinned when connecting): JSON in and out, no
redirects followed, links the vendor hands back (next pages) only to the vendor's own hosts, rate
limits obeyed (``Retry-After`` and the vendors' own headers), passing failures retried in place
with backoff and jitter, and every failure turned into one of the errors of ``errors.py``.

A wait longer than ``max_wait`` is not slept through: it is raised as ``RateLimited`` with
``retry_after`` so the scan gives its worker back and resumes later from its checkpoint."""

from __future__ import annotations

import email.utils
import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from console.core import outbound
from shadow_ai.casb.connectors.errors import (
    AuthError,
    BadRequest,
    ConnectorError,
    MalformedResponse,
    NotFound,
    RateLimited,
    StopScan,
    TransientError,
)

MAX_BODY_BYTES = 32 * 1024 * 1024
THROTTLE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|h|m|s)")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    data: Any
    url: str


def error_text(body: Any) -> str:
    """The vendor's own words from an error body, whatever its dialect: ``{"error": {"message"}}``
    (OpenAI, Anthropic, Graph, Google), ``{"error": "...", "error_description": "..."}`` (OAuth
    token endpoints), ``{"message": "..."}`` (GitHub)."""
    if not isinstance(body, Mapping):
        return ""
    error = body.get("error")
    if isinstance(error, Mapping):
        parts = [str(error.get(k)) for k in ("code", "type", "status") if isinstance(error.get(k), str)]
        message = error.get("message") or ""
        head = parts[0] if parts else ""
        return f"{head}: {message}".strip(": ") if message else head
    if isinstance(error, str):
        description = body.get("error_description") or ""
        return f"{error}: {description}".strip(": ")
    if isinstance(body.get("message"), str):
        return body["message"]
    return ""


def _reasons(body: Any) -> set[str]:
    error = body.get("error") if isinstance(body, Mapping) else None
    found = set()
    if isinstance(error, Mapping):
        for item in error.get("errors") or []:
            if isinstance(item, Mapping) and isinstance(item.get("reason"), str):
                found.add(item["reason"])
        if isinstance(error.get("status"), str):
            found.add(error["status"])
    return found


def parse_duration(text: str) -> float | None:
    """OpenAI's reset headers: ``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``."""
    text = (text or "").strip()
    if not text:
        return None
    total, matched = 0.0, ""
    for match in _DURATION.finditer(text):
        value, unit = float(match["value"]), match["unit"]
        total += value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
        matched += match[0]
    if matched != text:
        try:
            return max(0.0, float(text))
        except ValueError:
            return None
    return total


def rate_limit_wait(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the vendor asks us to wait, from the headers it documents; None if it says nothing."""
    now = time.time() if now is None else now
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            pass
    if headers.get("x-ratelimit-remaining") == "0" and (headers.get("x-ratelimit-reset") or "").isdigit():
        return max(0.0, float(headers["x-ratelimit-reset"]) - now)  # GitHub: epoch seconds
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):  # OpenAI: durations
        seconds = parse_duration(headers.get(name, ""))
        if seconds is not None:
            return seconds
    for name in ("anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset"):  # RFC 3339
        if headers.get(name):
            try:
                moment = datetime.fromisoformat(headers[name].replace("Z", "+00:00"))
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return max(0.0, moment.timestamp() - now)
    return None


class VendorHTTP:
    """One vendor's HTTP client for one scan or check.

    ``hosts`` names the vendor's base URLs (``{"api": "https://api.openai.com"}``); ``override``
    (non-production only) sends every host to one address instead, keeping the paths, which is
    how tests point a connector at a loopback server. ``auth`` returns the headers that prove who
    we are; ``refresh_auth`` (optional) gets a new token when a 401 says the old one expired.
    ``on_wait(seconds)`` is told before every pause, so the scan can keep its lease."""

    def __init__(
        self, *, vendor: str, hosts: Mapping[str, str], override: str = "", timeout: float = 30.0,
        max_retries: int = 4, max_wait: float = 120.0, backoff_base: float = 1.0,
        auth: Callable[[], Mapping[str, str]] | None = None, refresh_auth: Callable[[], None] | None = None,
        headers: Mapping[str, str] | None = None, on_wait: Callable[[float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None,
    ) -> None:
        self.vendor = vendor
        self.hosts = {k: v.rstrip("/") for k, v in hosts.items()}
        self.override = override.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.backoff_base = backoff_base
        self.auth = auth
        self.refresh_auth = refresh_auth
        self.headers = dict(headers or {})
        self.on_wait = on_wait
        self.sleep = sleep
        # The outbound policy (console/core/outbound.py): every connection, the pre-signed storage
        # redirects included, goes only to addresses the policy allows, checked when it connects.
        self.session = session or outbound.session()
        self.session.trust_env = False  # no proxies or .netrc credentials from the environment
        self.requests_made = 0

    # --- addresses ---------------------------------------------------------------------------

    def base(self, host: str) -> str:
        if self.override:
            return self.override
        try:
            return self.hosts[host]
        except KeyError:
            raise ValueError(f"{self.vendor} has no host named {host!r}") from None

    def url(self, path: str, host: str = "api") -> str:
        if path.startswith(("http://", "https://")):
            return self.check_link(path)
        return self.base(host) + (path if path.startswith("/") else "/" + path)

    def check_link(self, link: str) -> str:
        """A URL the vendor gave us (a next page): only to the vendor's own hosts."""
        parts = urlsplit(link)
        allowed = [self.override] if self.override else list(self.hosts.values())
        for base in allowed:
            expected = urlsplit(base)
            if (parts.scheme, parts.netloc) == (expected.scheme, expected.netloc):
                return link
        raise BadRequest(f"{self.vendor} handed back a link to {parts.scheme}://{parts.netloc}, which is not one "
                         f"of its API hosts; it was not followed.")

    def describe(self, url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.netloc}{parts.path}"

    # --- requests ----------------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        return min(self.max_wait, self.backoff_base * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)

    def get(self, path: str, *, host: str = "api", params: Any = None, headers: Mapping[str, str] | None = None,
            authenticated: bool = True) -> Reply:
        return self.request("GET", path, host=host, params=params, headers=headers, authenticated=authenticated)

    def post(self, path: str, *, host: str = "api", data: Any = None, json_body: Any = None,
             headers: Mapping[str, str] | None = None, authenticated: bool = True) -> Reply:
        return self.request("POST", path, host=host, data=data, json_body=json_body, headers=headers,
                            authenticated=authenticated)

    def download(self, path: str, *, max_bytes: int, host: str = "api", params: Any = None,
                 headers: Mapping[str, str] | None = None, authenticated: bool = True,
                 redirect_hosts: Sequence[str] = ()) -> bytes | None:
        """The bytes of a file (not JSON), or None when it is larger than ``max_bytes`` (nothing
        more is read). A redirect is followed once, and only to a host ending in one of
        ``redirect_hosts`` (a vendor's pre-signed storage URL), without our credentials."""
        reply = self.request("GET", path, host=host, params=params, headers=headers, authenticated=authenticated,
                             raw_limit=max_bytes, redirect_hosts=redirect_hosts)
        return reply.data

    def request(
        self, method: str, path: str, *, host: str = "api", params: Any = None, data: Any = None,
        json_body: Any = None, headers: Mapping[str, str] | None = None, authenticated: bool = True,
        raw_limit: int | None = None, redirect_hosts: Sequence[str] = (),
    ) -> Reply:
        url = self.url(path, host)
        where = self.describe(url)
        attempt, refreshed = 0, False
        while True:
            attempt += 1
            error, wait = self._attempt(method, url, where, params, data, json_body, headers, authenticated,
                                        raw_limit, redirect_hosts)
            if isinstance(error, Reply):
                return error
            if (isinstance(error, AuthError) and error.status == 401 and authenticated and self.refresh_auth
                    and not refreshed):
                refreshed = True
                self.refresh_auth()
                continue
            if not error.retryable:
                raise error
            if wait is None:
                wait = self.backoff(attempt)
            if attempt > self.max_retries or wait > self.max_wait:
                error.retry_after = max(wait, 1.0)
                raise error
            if self.on_wait:
                self.on_wait(wait)
            self.sleep(wait)

    def _redirect_allowed(self, location: str, hosts: Sequence[str]) -> bool:
        parts = urlsplit(location)
        if self.override:
            return parts.netloc == urlsplit(self.override).netloc
        name = (parts.hostname or "").lower()
        return parts.scheme == "https" and any(name == h or name.endswith("." + h) for h in hosts)

    def _attempt(self, method: str, url: str, where: str, params: Any, data: Any, json_body: Any,
                 headers: Mapping[str, str] | None, authenticated: bool, raw_limit: int | None = None,
                 redirect_hosts: Sequence[str] = ()) -> tuple[Any, float | None]:
        """One HTTP attempt: the ``Reply``, or the error it maps to and how long the vendor asks us
        to wait (``None``: our own backoff)."""
        sent = {"Accept": "application/json" if raw_limit is None else "*/*", **self.headers, **(headers or {})}
        if authenticated and self.auth is not None:
            sent.update(self.auth())
        self.requests_made += 1
        timeout = (min(10.0, self.timeout), self.timeout)
        try:
            response = self._send(method, url, sent, timeout, params=params, data=data, json_body=json_body,
                                  raw_limit=raw_limit, redirect_hosts=redirect_hosts)
            if raw_limit is not None and 200 <= response.status_code < 300:
                return Reply(response.status_code, response.headers, self._read_capped(response, raw_limit), url), None
            body = self._read(response)
        except outbound.OutboundRefused as exc:
            return StopScan(f"The request to {where} was refused by the outbound policy: {exc.reason}. "
                            "Check the integration's address or OUTBOUND_ALLOWED_NETWORKS."), None
        except requests.Timeout:
            return TransientError(f"{where} did not answer within {self.timeout:g} seconds."), None
        except requests.ConnectionError as exc:
            return TransientError(f"Could not reach {urlsplit(url).netloc}: {_reason(exc)}."), None
        except requests.RequestException as exc:
            return TransientError(f"The request to {where} failed: {_reason(exc)}."), None
        return self._answer(response, body, url, where)

    def _send(self, method: str, url: str, sent: Mapping[str, str], timeout: tuple[float, float], *, params: Any,
              data: Any, json_body: Any, raw_limit: int | None, redirect_hosts: Sequence[str]) -> requests.Response:
        """Send the request; a download's redirect to an allowed host is followed once."""
        response = self.session.request(
            method, url, params=params, data=data, json=json_body, headers=sent, allow_redirects=False,
            timeout=timeout, stream=True,
        )
        location = response.headers.get("Location", "")
        if (raw_limit is not None and 300 <= response.status_code < 400 and location
                and self._redirect_allowed(location, redirect_hosts)):
            # A pre-signed storage URL: it carries its own authorization, ours must not travel there.
            response.close()
            self.requests_made += 1
            response = self.session.request("GET", location, headers={"Accept": "*/*"}, allow_redirects=False,
                                            timeout=timeout, stream=True)
        return response

    def _answer(self, response: requests.Response, body: bytes, url: str, where: str) -> tuple[Any, float | None]:
        """What a complete answer means: a ``Reply`` for a success, otherwise the error its status
        maps to."""
        status = response.status_code
        parsed, malformed = _decode(body)
        if 200 <= status < 300:
            if status == 204 or not body.strip():
                return Reply(status, response.headers, None, url), None
            if malformed:
                kind = response.headers.get("Content-Type", "no content type")
                return MalformedResponse(
                    f"{self.vendor} answered {where} with something that is not JSON ({kind}): "
                    f"{_preview(body)}", status=status), None
            return Reply(status, response.headers, parsed, url), None
        said = error_text(parsed) if not malformed else ""
        return self._refusal(status, response.headers, parsed, where, f" ({said})" if said else "")

    def _refusal(self, status: int, headers: Mapping[str, str], parsed: Any, where: str,
                 detail: str) -> tuple[Any, float | None]:
        """The error a non-2xx status maps to (``detail``: what the vendor said, in brackets)."""
        if 300 <= status < 400:
            return BadRequest(f"{self.vendor} redirected {where} to {headers.get('Location', '?')}; "
                              "check the integration's address.", status=status), None
        if self._throttled(status, headers, parsed):
            wait = rate_limit_wait(headers)
            return RateLimited(f"{self.vendor} is rate limiting us (HTTP {status}){detail}.", status=status), wait
        if status >= 500:
            wait = rate_limit_wait(headers)
            return TransientError(f"{self.vendor} failed with HTTP {status} on {where}{detail}.", status=status), wait
        if status == 401:
            return AuthError(f"{self.vendor} refused the credentials (HTTP 401){detail}. Check the key or secret, "
                             "or rotate the credentials.", status=status), None
        if status == 403:
            return AuthError(f"{self.vendor} denied access to {where} (HTTP 403){detail}. The credentials lack a "
                             "permission or scope this scan needs.", status=status), None
        if status == 404:
            return NotFound(f"{self.vendor} has no {where} (HTTP 404){detail}.", status=status), None
        return BadRequest(f"{self.vendor} rejected the request to {where} (HTTP {status}){detail}.",
                          status=status), None

    def _throttled(self, status: int, headers: Mapping[str, str], body: Any) -> bool:
        if status == 429:
            return True
        if status == 403:
            if headers.get("x-ratelimit-remaining") == "0":
                return True
            if _reasons(body) & THROTTLE_REASONS:
                return True
            return "rate limit" in error_text(body).lower()
        return False

    def _read_capped(self, response: requests.Response, limit: int) -> bytes | None:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            response.close()
            return None
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                response.close()
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _read(self, response: requests.Response) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                response.close()
                raise requests.RequestException(f"the answer is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB")
            chunks.append(chunk)
        return b"".join(chunks)


def _decode(body: bytes) -> tuple[Any, bool]:
    if not body.strip():
        return None, False
    try:
        return json.loads(body), False
    except ValueError:
        return None, True


def _preview(body: bytes) -> str:
    text = body[:80].decode("utf-8", "replace").replace("\n", " ").strip()
    return f"“{text}…”" if len(body) > 80 else f"“{text}”"


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host",
                   "Temporary failure in name resolution", "certificate verify failed"):
        if marker in text:
            return marker.lower()
    return text[:160] or exc.__class__.__name__


def is_connector_error(exc: BaseException) -> bool:
    return isinstance(exc, ConnectorError)
