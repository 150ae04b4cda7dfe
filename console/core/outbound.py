"""The one way the console makes HTTP requests of its own (identity-provider discovery, JWKS,
token and userinfo endpoints, Shared Signals push, CASB vendor APIs, and whatever comes next).

Several of those URLs are chosen by someone else: an admin types an issuer, a discovery document
names its JWKS, an SSF receiver registers its endpoint. Without a policy any of them could make
the console reach into its own network (server-side request forgery). The policy:

* only ``http`` and ``https`` URLs, without credentials (``user@host``) in them;
* the address a name resolves to is checked **when the connection is made**, and the socket is
  connected to that very address (no second DNS lookup that a rebinding name could answer
  differently); the Host header, TLS SNI and certificate verification still use the name;
* private, loopback, link-local, CGNAT, multicast, reserved, unspecified and cloud-metadata
  addresses are refused, IPv4 and IPv6 alike, including IPv4 wrapped in IPv6 (``::ffff:127.0.0.1``,
  NAT64, 6to4), unless ``OUTBOUND_ALLOWED_NETWORKS`` or ``OUTBOUND_ALLOWED_HOSTS`` allow them.
  Unspecified and multicast addresses are never allowed; a cloud-metadata address only when an
  allowed network names exactly that address;
* no proxies from the environment; redirects only within the same origin (each hop checked again);
  connect, read and total time limits; answers read up to a size cap and no further.

``fetch`` is the entry point for one request and its answer. ``session`` is for clients that
keep their own request loop (the CASB connectors): it applies the same address and URL policy,
never follows a redirect by itself and leaves reading the answer to the caller.

Errors are a small taxonomy that callers map to their own: ``OutboundRefused`` (the policy said
no; retrying cannot help), ``OutboundUnavailable`` (the network failed: refused, timed out,
unresolvable name, TLS; may pass), ``OutboundBadAnswer`` (the peer answered, but too much or
broken). All are ``ExternalServiceError`` and their messages are safe to show an admin."""

from __future__ import annotations

import functools
import ipaddress
import json as jsonlib
import os
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from console.core.errors import ExternalServiceError

SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
_CHUNK = 64 * 1024
IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- Errors -------------------------------------------------------------------------------------


class OutboundError(ExternalServiceError):
    """Base of the outbound errors. ``url`` is the URL as shown (no credentials, no query)."""

    retryable = False

    def __init__(self, message: str, *, url: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.url = url
        #: A short phrase (``connection refused``) for callers that word their own message.
        self.reason = reason or message


class OutboundRefused(OutboundError):
    """The policy refused the request: its scheme, credentials in the URL, the address its host
    resolves to, a redirect to another origin. Retrying cannot help; the configuration must
    change."""


class OutboundUnavailable(OutboundError):
    """The network failed: the name does not resolve, the connection is refused or times out,
    the answer does not come in time, the TLS certificate is refused. May pass."""

    retryable = True

    def __init__(self, message: str, *, url: str = "", reason: str = "", stage: str = "connect") -> None:
        super().__init__(message, url=url, reason=reason)
        #: ``connect`` (no connection was made) or ``answer`` (connected, the answer failed).
        self.stage = stage


class OutboundBadAnswer(OutboundError):
    """The peer answered, but not acceptably: larger than the cap, cut off, too many redirects,
    not the JSON that was asked for."""


# --- URLs ---------------------------------------------------------------------------------------


def shown(url: str) -> str:
    """The URL as it may appear in a message: scheme, host, port and path, without credentials
    or query (either may hold a secret)."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return str(url).split("?")[0].split("@")[-1][:200]
    if ":" in host:
        host = f"[{host}]"
    if not parts.scheme:
        return str(url).split("?")[0][:200]
    return f"{parts.scheme}://{host}{port}{parts.path}"[:200]


def parse_url(url: str) -> SplitResult:
    """The URL split into parts once it passes the URL rules (http or https, a host, no
    credentials, a valid port); otherwise ``OutboundRefused`` naming the URL and the rule."""
    if not isinstance(url, str) or not url.strip():
        raise OutboundRefused("No URL was given.", reason="no URL")
    if any(ord(c) < 33 or c == "\x7f" for c in url):
        raise OutboundRefused(f"{shown(url)} was refused: a URL may not contain spaces or control characters.",
                              url=shown(url), reason="spaces or control characters in the URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        what = f"{scheme}://" if scheme else "a URL without a scheme"
        raise OutboundRefused(f"{shown(url)} was refused: only http and https URLs are fetched, not {what}.",
                              url=shown(url), reason=f"only http and https URLs are fetched, not {what}")
    if "@" in parts.netloc:
        raise OutboundRefused(
            f"{shown(url)} was refused: a URL may not carry credentials (user@host); "
            f"the host would be {parts.hostname or 'missing'}.",
            url=shown(url), reason="credentials (user@host) in the URL",
        )
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise OutboundRefused(f"{shown(url)} was refused: its port is not a number from 1 to 65535.",
                              url=shown(url), reason="invalid port") from None
    if not parts.hostname:
        raise OutboundRefused(f"{shown(url)} was refused: it names no host.", url=shown(url), reason="no host")
    return parts


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower().rstrip("."), parts.port or (443 if scheme == "https" else 80)


# --- Addresses ----------------------------------------------------------------------------------

UNSPECIFIED = "unspecified"
MULTICAST = "multicast"
METADATA = "cloud metadata"

# Most specific first: the first match names the range in the error.
_BLOCKED: list[tuple[Network, str]] = [
    (ipaddress.ip_network(net), label) for net, label in [
        ("169.254.169.254/32", METADATA),  # AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack
        ("169.254.170.2/32", METADATA),  # AWS ECS task metadata
        ("168.63.129.16/32", METADATA),  # Azure wire server (a public address)
        ("100.100.100.200/32", METADATA),  # Alibaba Cloud
        ("fd00:ec2::254/128", METADATA),  # AWS over IPv6
        ("0.0.0.0/8", UNSPECIFIED),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "CGNAT (shared address space)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "reserved (documentation)"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved (benchmarking)"),
        ("198.51.100.0/24", "reserved (documentation)"),
        ("203.0.113.0/24", "reserved (documentation)"),
        ("224.0.0.0/4", MULTICAST),
        ("240.0.0.0/4", "reserved"),
        ("::/128", UNSPECIFIED),
        ("::1/128", "loopback"),
        ("::/96", "reserved (IPv4-compatible)"),
        ("64:ff9b:1::/48", "private (local NAT64)"),
        ("100::/64", "reserved (discard)"),
        ("2001::/23", "reserved"),
        ("2001:db8::/32", "reserved (documentation)"),
        ("3fff::/20", "reserved (documentation)"),
        ("5f00::/16", "reserved"),
        ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private (site-local)"),
        ("ff00::/8", MULTICAST),
    ]
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, NAT64 or 6to4 IPv6 address, which reaches (or
    names) that IPv4 address."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def classify(ip: IP) -> str | None:
    """The name of the blocked range ``ip`` is in (``loopback``, ``cloud metadata``...), or None
    for a public address."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        label = classify(inner)
        if label is not None:
            return f"{label} (IPv4 {inner} inside IPv6)"
    for network, label in _BLOCKED:
        if ip.version == network.version and ip in network:
            return label
    if not ip.is_global:
        return "non-public"
    return None


@functools.lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {exc}") from None


def allowed_networks() -> tuple[Network, ...]:
    return _networks(tuple(getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ()) or ()))


def host_allowed(host: str) -> bool:
    """``OUTBOUND_ALLOWED_HOSTS``: exact names, or ``.example.com`` for the name and its subdomains."""
    host = host.lower().rstrip(".")
    for entry in getattr(settings, "OUTBOUND_ALLOWED_HOSTS", ()) or ():
        entry = entry.strip().lower().rstrip(".")
        if not entry:
            continue
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == entry:
            return True
    return False


def refusal(ip: IP, host: str = "") -> str | None:
    """Why the policy refuses connecting to ``ip`` (reached as ``host``), or None if it may."""
    label = classify(ip)
    if label is None:
        return None
    if label.startswith((UNSPECIFIED, MULTICAST)):
        return label
    candidates = [ip] + ([inner] if (inner := _embedded_ipv4(ip)) is not None else [])
    networks = allowed_networks()
    if label.startswith(METADATA):
        # Allowing a whole range (169.254.0.0/16) must not open the metadata service by accident.
        exact = any(a in n and n.num_addresses == 1 for a in candidates for n in networks if a.version == n.version)
        return None if exact else label
    if host and host_allowed(host):
        return None
    if any(a in n for a in candidates for n in networks if a.version == n.version):
        return None
    return label


def _refused_address(host: str, ip: IP, label: str) -> OutboundRefused:
    where = f"{host} resolves to {ip}, which is" if host != str(ip) else f"{ip} is"
    what = f"{'an' if label[0] in 'aeiou' else 'a'} {label} address"
    return OutboundRefused(
        f"The connection to {host} was refused: {where} {what}. Outbound requests go only to "
        "public addresses unless OUTBOUND_ALLOWED_NETWORKS or OUTBOUND_ALLOWED_HOSTS allow it.",
        reason=f"{where} {what}",
    )


def resolve(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[tuple[Any, ...]]:
    """Every address ``host`` resolves to, each checked: ``OutboundRefused`` if any is blocked
    (a name that answers with one public and one private address is not trusted with either)."""
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        label = refusal(ip, host)
        if label is not None:
            raise _refused_address(host, ip, label)
    return infos


def check_url(url: str) -> SplitResult:
    """Check a URL now, before it is saved, with the rules a request to it will meet: the URL
    rules, then the addresses its host resolves to today. (The request checks them again when it
    connects: a name may resolve differently by then.)"""
    parts = parse_url(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        resolve(parts.hostname or "", port)
    except OutboundRefused as exc:
        raise OutboundRefused(f"{shown(url)} was refused: {exc.reason}. Outbound requests go only to public "
                              "addresses unless OUTBOUND_ALLOWED_NETWORKS or OUTBOUND_ALLOWED_HOSTS allow it.",
                              url=shown(url), reason=exc.reason) from None
    except (socket.gaierror, UnicodeError):
        raise OutboundUnavailable(f"The host {parts.hostname} of {shown(url)} does not resolve.", url=shown(url),
                                  reason="the host name does not resolve") from None
    return parts


# --- Connections that check where they go -------------------------------------------------------


def _connect(conn: HTTPConnection) -> socket.socket:
    """What urllib3's ``create_connection`` does, with the resolved addresses checked first and
    the socket connected to the checked address itself."""
    host = conn._dns_host  # the name: ``conn.host`` still drives Host, SNI and certificate checks
    try:
        infos = resolve(host, conn.port, allowed_gai_family())
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    except UnicodeError:
        raise NameResolutionError(conn.host, conn, socket.gaierror(f"{host!r} is not a valid name")) from None
    error: OSError | None = None
    for family, socktype, proto, _, sockaddr in infos:
        sock = socket.socket(family, socktype, proto)
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            if conn.timeout is not None:
                sock.settimeout(conn.timeout)
            if conn.source_address:
                sock.bind(conn.source_address)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sys.audit("http.client.connect", conn, conn.host, conn.port)
        return sock
    if isinstance(error, TimeoutError):
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})")
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error or 'no address'}")


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class CheckedAdapter(HTTPAdapter):
    """A requests adapter whose connections check and pin the address, and which refuses URLs
    that break the URL rules and requests through a proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}

    def send(self, request: requests.PreparedRequest, *args: Any, proxies: Mapping[str, str] | None = None,
             **kwargs: Any) -> requests.Response:
        parse_url(request.url or "")
        if select_proxy(request.url or "", dict(proxies or {})):
            raise OutboundRefused(f"{shown(request.url or '')} was refused: outbound requests do not go through "
                                  "a proxy.", url=shown(request.url or ""), reason="a proxy was configured")
        return super().send(request, *args, proxies={}, **kwargs)


class OutboundSession(requests.Session):
    """A requests session under the policy. It never follows redirects itself (a caller that
    wants to decides per hop) and always has a time limit."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # no proxies or .netrc credentials from the environment
        self.adapters.clear()
        adapter = CheckedAdapter()
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def get_adapter(self, url: str) -> Any:
        parse_url(url)  # a clear refusal instead of requests' "no connection adapters"
        return super().get_adapter(url)

    def get_redirect_target(self, resp: requests.Response) -> None:
        # requests would otherwise read a redirect's whole body (past any size cap) to prepare
        # the next hop, even when it does not follow it.
        return None

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        if kwargs.get("verify", True) is True:
            # trust_env is off (no proxies from the environment), but a private CA bundle named
            # the usual way is still honoured, as plain requests would.
            kwargs["verify"] = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (settings.OUTBOUND_CONNECT_TIMEOUT, settings.OUTBOUND_READ_TIMEOUT)
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


def session() -> OutboundSession:
    """A session for clients with their own request loop (see the module's docstring)."""
    return OutboundSession()


# --- One request --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON, or ``OutboundBadAnswer``."""
        try:
            return jsonlib.loads(self.content)
        except ValueError:
            raise OutboundBadAnswer(f"The answer of {shown(self.url)} is not JSON.", url=shown(self.url),
                                    reason="the answer is not JSON") from None


def _timeouts(timeout: float | tuple[float, float] | None) -> tuple[float, float]:
    if timeout is None:
        return float(settings.OUTBOUND_CONNECT_TIMEOUT), float(settings.OUTBOUND_READ_TIMEOUT)
    if isinstance(timeout, tuple):
        return float(timeout[0]), float(timeout[1])
    return float(timeout), float(timeout)


def _read(response: requests.Response, url: str, max_bytes: int, deadline: float, total: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise OutboundBadAnswer(f"The answer of {shown(url)} is larger than {max_bytes} bytes; it was not read.",
                                url=shown(url), reason=f"the answer is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise OutboundBadAnswer(f"The answer of {shown(url)} is larger than {max_bytes} bytes; reading stopped.",
                                    url=shown(url), reason=f"the answer is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise OutboundUnavailable(f"{shown(url)} took longer than {total:g} s to answer; reading stopped.",
                                      url=shown(url), reason=f"no complete answer within {total:g} s", stage="answer")
        chunks.append(chunk)
    return b"".join(chunks)


def _network_error(exc: requests.RequestException, url: str, connect: float, read: float) -> OutboundError:
    where, host = shown(url), urlsplit(url).hostname or url
    if isinstance(exc, requests.exceptions.SSLError):
        return OutboundUnavailable(f"The TLS certificate of {host} was refused ({exc.__class__.__name__}).",
                                   url=where, reason="TLS certificate refused")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return OutboundUnavailable(f"Could not connect to {host} within {connect:g} s.", url=where,
                                   reason=f"no connection within {connect:g} s")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return OutboundUnavailable(f"{where} did not answer within {read:g} s.", url=where,
                                   reason=f"no answer within {read:g} s", stage="answer")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return OutboundBadAnswer(f"The answer of {where} was cut off or badly encoded.", url=where,
                                 reason="the answer was cut off or badly encoded")
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                        requests.exceptions.MissingSchema, requests.exceptions.InvalidHeader)):
        return OutboundRefused(f"{where} was refused: it is not a valid URL or header ({exc}).", url=where,
                               reason="not a valid URL")
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = repr(exc)
        if "NameResolutionError" in text or "Name or service not known" in text:
            reason = "the host name does not resolve"
        elif "refused" in text.lower():
            reason = "connection refused"
        elif "timed out" in text.lower():
            reason = f"no connection within {connect:g} s"
        else:
            reason = "connection failed"
        return OutboundUnavailable(f"Could not connect to {host}: {reason}.", url=where, reason=reason)
    return OutboundUnavailable(f"The request to {where} failed ({exc.__class__.__name__}).", url=where,
                               reason=f"request failed ({exc.__class__.__name__})", stage="answer")


def fetch(
    method: str, url: str, *, params: Any = None, headers: Mapping[str, str] | None = None, data: Any = None,
    json: Any = None, auth: Any = None, timeout: float | tuple[float, float] | None = None,
    total_timeout: float | None = None, max_bytes: int | None = None, follow_redirects: bool = True,
    verify: bool | str = True,
) -> Answer:
    """One request under the policy, and its answer read in full (up to ``max_bytes``, default
    ``OUTBOUND_MAX_RESPONSE_BYTES``).

    ``timeout`` is (connect, read) seconds, default ``OUTBOUND_CONNECT_TIMEOUT`` and
    ``OUTBOUND_READ_TIMEOUT``; ``total_timeout`` (default ``OUTBOUND_TOTAL_TIMEOUT``) bounds the
    whole exchange, redirects and a slowly trickling body included. Redirects are followed only
    within the URL's own origin (up to 5, each checked again; 301/302 after a POST and 303 turn
    into a GET); with ``follow_redirects=False`` the redirect itself is the answer. ``verify``
    is True (the default CAs, or ``REQUESTS_CA_BUNDLE``), False, or a CA bundle's path. Any HTTP
    status is an answer: what it means is the caller's to decide."""
    connect, read = _timeouts(timeout)
    total = float(total_timeout if total_timeout is not None else settings.OUTBOUND_TOTAL_TIMEOUT)
    cap = int(max_bytes if max_bytes is not None else settings.OUTBOUND_MAX_RESPONSE_BYTES)
    deadline = time.monotonic() + total
    parse_url(url)
    home = origin(url)
    current, method = url, method.upper()
    with OutboundSession() as client:
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                response = client.request(method, current, params=params, headers=headers, data=data, json=json,
                                           auth=auth, timeout=(connect, read), stream=True, verify=verify)
                with response:
                    location = response.headers.get("Location", "")
                    if follow_redirects and response.status_code in REDIRECT_STATUSES and location:
                        target = urljoin(current, location)
                        if origin(target) != home:
                            raise OutboundRefused(
                                f"{shown(current)} redirected to {shown(target)}, another origin; redirects are "
                                "followed only within the same scheme, host and port.",
                                url=shown(current), reason=f"redirect to another origin ({shown(target)})",
                            )
                        parse_url(target)
                        if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                            method, data, json = "GET", None, None
                        current, params = target, None
                        if time.monotonic() > deadline:
                            raise OutboundUnavailable(f"{shown(url)} took longer than {total:g} s to answer.",
                                                      url=shown(url), reason=f"no answer within {total:g} s",
                                                      stage="answer")
                        continue
                    content = _read(response, current, cap, deadline, total)
                    return Answer(response.status_code, response.headers, content, response.url or current)
            except OutboundRefused as exc:
                if exc.url:
                    raise
                raise OutboundRefused(f"{shown(current)} was refused: {exc.reason}. Outbound requests go only to "
                                      "public addresses unless OUTBOUND_ALLOWED_NETWORKS or OUTBOUND_ALLOWED_HOSTS "
                                      "allow it.", url=shown(current), reason=exc.reason) from None
            except requests.RequestException as exc:
                raise _network_error(exc, current, connect, read) from None
    raise OutboundBadAnswer(f"{shown(url)} redirected more than {MAX_REDIRECTS} times.", url=shown(url),
                            reason="too many redirects")

