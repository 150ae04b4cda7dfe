"""Proxy configurations from one set of templates (``configs/``): the ones the docs print, the
"Connect your proxy" page hands out and the serving tests run, so they cannot drift apart.

Placeholders are ``{{name}}``; every one a template uses must be given, and nothing else is
touched (nginx and Caddy use ``$`` and ``{}`` themselves)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

TEMPLATES = Path(__file__).resolve().parent / "configs"
KINDS = {"nginx": "nginx.conf", "caddy": "Caddyfile", "traefik": "traefik.yml", "envoy": "envoy.yaml"}
LABELS = {"nginx": "nginx", "caddy": "Caddy", "traefik": "Traefik", "envoy": "Envoy"}
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


def render(kind: str, values: dict[str, str]) -> str:
    """The ``kind`` template with its placeholders filled; a missing value is an error."""
    text = (TEMPLATES / KINDS[kind]).read_text()
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise KeyError(f"the {kind} template needs {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


@dataclass(frozen=True)
class Site:
    """One protected hostname and where things are, as a proxy sees them."""

    host: str  # the application's hostname
    upstream: str  # where the proxy reaches the application, e.g. http://127.0.0.1:3000
    console: str  # where the proxy reaches the console, e.g. https://console.corp.example
    console_host: str = ""  # the Host the console is asked under; default: the host of ``console``
    listen: str = "443 ssl"  # nginx
    tls: bool = True  # nginx: certificate lines; Caddy: automatic HTTPS for the bare host
    site: str = ""  # Caddy's site address; default: the host (HTTPS) or http://host

    def values(self) -> dict[str, str]:
        console, upstream = urlsplit(self.console), urlsplit(self.upstream)
        name = re.sub(r"[^a-z0-9]+", "-", self.host.lower()).strip("-") or "app"
        tls_lines = (
            f"    ssl_certificate /etc/ssl/{self.host}/fullchain.pem;\n"
            f"    ssl_certificate_key /etc/ssl/{self.host}/privkey.pem;\n"
        ) if self.tls else ""
        return {
            "host": self.host, "upstream": self.upstream.rstrip("/"), "console": self.console.rstrip("/"),
            "console_host": self.console_host or console.netloc, "listen": self.listen, "tls": tls_lines,
            "site": self.site or (self.host if self.tls else f"http://{self.host}"),
            "name": name,
            "console_address": console.hostname or "", "console_scheme": console.scheme or "https",
            "console_hostname": console.hostname or "",
            "console_port": str(console.port or _default_port(console.scheme)),
            "upstream_address": upstream.hostname or "",
            "upstream_port": str(upstream.port or _default_port(upstream.scheme)),
        }


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def for_site(site: Site) -> dict[str, str]:
    """Every kind's configuration for ``site``."""
    values = site.values()
    return {kind: render(kind, values) for kind in KINDS}
