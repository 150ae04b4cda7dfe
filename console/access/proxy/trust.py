"""Which callers may speak for a proxied request, and what they say about it.

A forward-auth request describes another request: the host, method, URI and client address the
browser used. Those come from ``X-Forwarded-*`` headers, which anyone can send, so they are read
only from callers whose address is in ``ACCESS_TRUSTED_PROXIES``."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest

# A host as a browser sends it: a DNS name or an address, an optional port.
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
                   r"(?::\d{1,5})?$|^\[[0-9a-f:.]+\](?::\d{1,5})?$")
_METHOD = re.compile(r"^[A-Z]{1,16}$")
MAX_URI = 4096


@cache
def _networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in settings.ACCESS_TRUSTED_PROXIES if n.strip())


@receiver(setting_changed)
def _settings_changed(setting: str, **kwargs: object) -> None:
    if setting == "ACCESS_TRUSTED_PROXIES":
        _networks.cache_clear()


def is_trusted(address: str | None) -> bool:
    """Whether ``address`` (the caller's own, REMOTE_ADDR) is a trusted proxy."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    return any(ip in network for network in _networks())


@dataclass(frozen=True)
class Original:
    """The request a proxy asks about."""

    scheme: str
    host: str  # as the browser sent it, with its port if any, lower case
    method: str
    uri: str  # path and query
    client_ip: str | None

    @property
    def hostname(self) -> str:
        if self.host.startswith("["):
            return self.host[1:self.host.index("]")]
        return self.host.rsplit(":", 1)[0] if ":" in self.host else self.host

    @property
    def path(self) -> str:
        return urlsplit(self.uri).path or "/"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.uri}"


class NotTrusted(Exception):
    """The caller is not a trusted proxy (``status`` 403), or did not say what the request is
    about (400)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def clean_host(value: str) -> str:
    host = (value or "").strip().lower().rstrip(".")
    if not host or len(host) > 260 or not _HOST.match(host):
        raise NotTrusted("the proxy sent no usable X-Forwarded-Host")
    return host


def _client_ip(request: HttpRequest) -> str | None:
    """The address the proxy saw the browser come from: X-Real-IP, else the last X-Forwarded-For
    entry (the one the trusted proxy added), else the caller itself."""
    meta = request.META
    candidates = [meta.get("HTTP_X_REAL_IP", "")]
    forwarded = [p.strip() for p in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    if forwarded:
        candidates.append(forwarded[-1])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate.strip()))
        except ValueError:
            continue
    return meta.get("REMOTE_ADDR") or None


def original_request(request: HttpRequest, *, uri_fallback: str = "") -> Original:
    """What the trusted proxy says the browser asked for. ``uri_fallback`` is the original URI
    when the proxy appended it to the endpoint's path (Envoy's ``path_prefix``)."""
    if not is_trusted(request.META.get("REMOTE_ADDR")):
        raise NotTrusted("this address is not a trusted proxy (ACCESS_TRUSTED_PROXIES)", status=403)
    meta = request.META
    host = clean_host(meta.get("HTTP_X_FORWARDED_HOST", "").split(",")[0] or meta.get("HTTP_HOST", ""))
    scheme = meta.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower() or "https"
    if scheme not in ("http", "https"):
        raise NotTrusted("X-Forwarded-Proto must be http or https")
    method = (meta.get("HTTP_X_FORWARDED_METHOD", "") or request.method or "GET").strip().upper()
    if not _METHOD.match(method):
        raise NotTrusted("X-Forwarded-Method is not an HTTP method")
    uri = meta.get("HTTP_X_FORWARDED_URI", "") or uri_fallback or "/"
    if not uri.startswith("/") or len(uri) > MAX_URI or any(c in uri for c in "\r\n\x00"):
        raise NotTrusted("X-Forwarded-Uri must be a path (and query) of at most 4096 characters")
    return Original(scheme=scheme, host=host, method=method, uri=uri, client_ip=_client_ip(request))
