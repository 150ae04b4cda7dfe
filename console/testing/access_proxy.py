"""Real proxies in front of a small upstream application, configured from the same templates the
docs print and the console hands out (``console.access.proxy.configs``), for the forward-auth
tests and ``bench/access_proxy.py``."""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from console.access.proxy import configs
from console.testing.serving import NotInstalled, Processes, free_port, start_nginx_site, wait_for_port


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Upstream:
    """An application that records every request it gets (method, path with query, headers) and
    answers with a page naming the path and the e-mail it was told."""

    server: ThreadingHTTPServer
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def last(self, path_prefix: str = "/") -> Seen:
        return [s for s in self.seen if s.path.startswith(path_prefix)][-1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_upstream() -> Upstream:
    upstream: Upstream

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            upstream.seen.append(Seen(self.command, self.path, headers))
            body = (
                "<!doctype html><title>Upstream</title><h1>Upstream application</h1>"
                f"<p data-testid='path'>{html.escape(self.path)}</p>"
                f"<p data-testid='email'>{html.escape(headers.get('x-auth-request-email', ''))}</p>"
                f"<script type='application/json' id='headers'>{html.escape(json.dumps(headers))}</script>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    upstream = Upstream(server)
    threading.Thread(target=server.serve_forever, name="upstream", daemon=True).start()
    return upstream


def site_for(host: str, port: int, upstream: Upstream, console_url: str, console_host: str) -> configs.Site:
    """The templates' values for a proxy on loopback ``port`` serving ``host`` over plain HTTP."""
    return configs.Site(host=host, upstream=upstream.url, console=console_url, console_host=console_host,
                        listen=f"127.0.0.1:{port}", tls=False, site=f"http://{host}:{port}")


def start_nginx_proxy(processes: Processes, site: configs.Site, port: int) -> None:
    process, log = start_nginx_site(processes, configs.render("nginx", site.values()), name="nginx-access")
    wait_for_port(port, process, log)


def caddy_binary() -> str:
    found = shutil.which("caddy")
    if found is None:
        raise NotInstalled("caddy is not installed: ./dev test installs it (apt-get install caddy)")
    return found


def start_caddy_proxy(processes: Processes, site: configs.Site, port: int) -> None:
    """Caddy with the site from the template; its admin API and automatic HTTPS off (loopback,
    plain HTTP), its state in the processes' temporary directory."""
    tmp: Path = processes.tmp / "caddy"
    tmp.mkdir(exist_ok=True)
    config = "{\n\tadmin off\n\tauto_https off\n}\n\n" + configs.render("caddy", site.values())
    (tmp / "Caddyfile").write_text(config)
    env = dict(os.environ) | {"HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "data"),
                              "XDG_CONFIG_HOME": str(tmp / "config")}
    process, log = processes.start("caddy", [
        caddy_binary(), "run", "--config", str(tmp / "Caddyfile"), "--adapter", "caddyfile",
    ], env, stdin=subprocess.DEVNULL)
    wait_for_port(port, process, log)


__all__ = ["Upstream", "free_port", "site_for", "start_caddy_proxy", "start_nginx_proxy", "start_upstream"]
