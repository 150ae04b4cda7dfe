"""The proxy configurations: one set of templates behind the docs, the console's "Connect your
proxy" page and the browser tests, each accepted by the real proxy where it is installed here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from console.access.proxy import configs
from console.testing.access_proxy import caddy_binary
from console.testing.serving import nginx_binary, write_nginx_config

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = configs.Site(host="wiki.corp.example", upstream="http://127.0.0.1:3000",
                       console="https://console.corp.example")
IDENTITY = ("X-Auth-Request-Email", "X-Auth-Request-User", "X-Auth-Request-Groups", "X-Access-Jwt-Assertion")


def test_the_guide_prints_exactly_what_the_templates_render():
    guide = (ROOT / "docs" / "access.md").read_text()
    for kind, text in configs.for_site(EXAMPLE).items():
        assert text.rstrip() in guide, f"docs/access.md is out of date for {kind}: rerender it from the templates"


def test_every_placeholder_is_filled_and_a_missing_one_is_named():
    for kind, text in configs.for_site(EXAMPLE).items():
        assert "{{" not in text and "wiki.corp.example" in text, kind
    with pytest.raises(KeyError, match=r"needs .*upstream"):
        configs.render("nginx", {k: v for k, v in EXAMPLE.values().items() if k != "upstream"})


def test_nginx_accepts_the_configuration(tmp_path):
    site = configs.Site(host="wiki.corp.example", upstream="http://127.0.0.1:3000",
                        console="http://127.0.0.1:8000", listen="127.0.0.1:8443", tls=False)
    conf = write_nginx_config(tmp_path, configs.render("nginx", site.values()))
    checked = subprocess.run([nginx_binary(), "-t", "-c", str(conf / "nginx.conf"), "-p", str(conf),
                              "-e", str(conf / "error.log")], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    text = configs.render("nginx", EXAMPLE.values())
    for header in IDENTITY:
        assert f"proxy_set_header {header} $access_" in text  # set from the console's answer only


def test_caddy_accepts_the_production_configuration(tmp_path):
    """The site as printed (automatic HTTPS for the bare host name), adapted by the real Caddy."""
    (tmp_path / "Caddyfile").write_text(configs.render("caddy", EXAMPLE.values()))
    adapted = subprocess.run([caddy_binary(), "adapt", "--config", str(tmp_path / "Caddyfile"),
                              "--adapter", "caddyfile"], capture_output=True, text=True, timeout=30,
                             env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert adapted.returncode == 0, adapted.stderr
    assert "forward_auth" in configs.render("caddy", EXAMPLE.values())
    for header in IDENTITY:
        assert f"request_header -{header}" in configs.render("caddy", EXAMPLE.values())


def test_traefik_and_envoy_configurations_strip_client_identity_headers():
    traefik = yaml.safe_load(configs.render("traefik", EXAMPLE.values()))["http"]
    middlewares = traefik["middlewares"]
    assert set(middlewares["wiki-corp-example-strip-identity"]["headers"]["customRequestHeaders"]) == set(IDENTITY)
    forward = middlewares["wiki-corp-example-access"]["forwardAuth"]
    assert forward["address"] == "https://console.corp.example/api/v1/access/forward-auth"
    assert forward["trustForwardHeader"] is False and set(forward["authResponseHeaders"]) == set(IDENTITY)
    assert traefik["routers"]["wiki-corp-example"]["middlewares"][0] == "wiki-corp-example-strip-identity"

    envoy = yaml.safe_load(configs.render("envoy", EXAMPLE.values()))
    removed = {m["remove"] for m in envoy["http_filters"][0]["typed_config"]["mutations"]["request_mutations"]}
    assert removed == {h.lower() for h in IDENTITY}
    ext_authz = envoy["http_filters"][1]["typed_config"]["http_service"]
    assert ext_authz["path_prefix"] == "/api/v1/access/forward-auth"
    assert envoy["clusters"][0]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
        "socket_address"] == {"address": "console.corp.example", "port_value": 443}
