"""The demo application ``./dev run`` puts behind nginx and Access: a small WSGI page showing who
the proxy says you are (the identity headers), the claims of the ``X-Access-Jwt-Assertion`` token
verified with the keys the console publishes at ``/api/v1/access/jwks.json``, and the path and
query the request arrived with, so a newcomer can see the whole forward-auth round trip.

It runs beside the console (``manage.py demo_app``), so it reads the JWKS document in-process
(``tokens.jwks()``, the very document the endpoint serves) rather than over HTTP. A real
application fetches that URL and caches it; docs/access.md shows how."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from typing import Any

import jwt

from console.access import selectors, tokens
from console.access.proxy import configs

IDENTITY_HEADERS = ("X-Auth-Request-Email", "X-Auth-Request-User", "X-Auth-Request-Groups")
TOKEN_HEADER = "X-Access-Jwt-Assertion"  # noqa: S105 - a header name
ROUND_TRIP = "/orders/42?view=full&tab=history"


def _environ_header(environ: dict, name: str) -> str:
    return environ.get("HTTP_" + name.upper().replace("-", "_"), "")


def verify_token(token: str, *, host: str, issuer: str) -> tuple[dict[str, Any] | None, str]:
    """The token's claims and ``""``, or ``None`` and why it does not verify: signature against
    the published keys, issuer, expiry, and an audience that is the ``aud`` tag of the Access
    application for ``host``."""
    if not token:
        return None, "no token: the request did not come through Access"
    audiences = selectors.audiences_for_host(host)
    if not audiences:
        return None, f"no Access application is set up for {host}"
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = next((k for k in tokens.jwks()["keys"] if k.get("kid") == kid), None)
        if key is None:
            return None, "the token names a key the console does not publish"
        claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=[tokens.ALGORITHM], audience=audiences,
                            issuer=issuer)
    except jwt.InvalidTokenError as exc:
        return None, f"the token does not verify: {exc}"
    return claims, ""


def _row(name: str, value: str, testid: str) -> str:
    shown = html.escape(value) if value else "<em>(absent)</em>"
    return f"<tr><th>{html.escape(name)}</th><td data-testid='{testid}'>{shown}</td></tr>"


def page(environ: dict, *, issuer: str) -> str:
    """The identity page for one request."""
    host = _environ_header(environ, "Host").rsplit(":", 1)[0]
    path = environ.get("PATH_INFO", "/")
    query = environ.get("QUERY_STRING", "")
    token = _environ_header(environ, TOKEN_HEADER)
    claims, problem = verify_token(token, host=host, issuer=issuer)
    rows = "".join(_row(name, _environ_header(environ, name), name.lower()) for name in IDENTITY_HEADERS)
    if claims is not None:
        verdict = ("<p data-testid='verdict'>The token verifies: signed with a key the console publishes, "
                   "issued by the console, for this application, not expired.</p>"
                   f"<pre data-testid='claims'>{html.escape(json.dumps(claims, indent=2, sort_keys=True))}</pre>")
    else:
        verdict = f"<p data-testid='verdict'>Not verified: {html.escape(problem)}.</p>"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Demo application</title></head><body>"
        "<h1>Demo application behind Access</h1>"
        "<p>nginx asked the console before passing this request on; these are the headers it set.</p>"
        f"<h2>Who the proxy says you are</h2><table>{rows}</table>"
        f"<h2>The signed token ({TOKEN_HEADER})</h2>{verdict}"
        "<h2>The request as it arrived</h2><table>"
        + _row("Path", path, "path") + _row("Query", query, "query") +
        f"</table><p><a href='{html.escape(ROUND_TRIP)}'>Open a page with a path and a query</a> · "
        "<a href='/'>Back to the start</a> · <a href='/.access/logout'>Sign out of this application</a></p>"
        "</body></html>"
    )


def make_app(issuer: str) -> Callable[[dict, Callable], Iterable[bytes]]:
    """The WSGI application; ``issuer`` is the ``iss`` the console's tokens carry."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        body = page(environ, issuer=issuer).encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [body] if environ.get("REQUEST_METHOD") != "HEAD" else []

    return app


def nginx_config(*, prefix: str, host: str, port: int, upstream: str, console: str, console_host: str,
                 run_as_root: bool = False) -> str:
    """A whole nginx configuration for the demo: the site from the same template the docs print
    and the "Connect your proxy" page hands out (plain HTTP on loopback ``port``), and a main
    context that keeps every file nginx writes under ``prefix`` so it runs as any user."""
    site = configs.Site(host=host, upstream=upstream, console=console, console_host=console_host,
                        listen=f"127.0.0.1:{port}", tls=False)
    # As root, nginx's workers would run as nobody and could not write under ``prefix``.
    user = "user root;\n" if run_as_root else ""
    return (
        f"# The demo application behind Access, written by manage.py demo_proxy_config.\n"
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log notice;\n"
        "events { worker_connections 256; }\nhttp {\n"
        f"    access_log {prefix}/access.log;\n"
        f"    client_body_temp_path {prefix}/body;\n    proxy_temp_path {prefix}/proxy;\n"
        f"    fastcgi_temp_path {prefix}/fastcgi;\n    uwsgi_temp_path {prefix}/uwsgi;\n"
        f"    scgi_temp_path {prefix}/scgi;\n\n"
        + configs.render("nginx", site.values()) + "\n}\n"
    )
