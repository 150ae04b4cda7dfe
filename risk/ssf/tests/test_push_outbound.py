"""Push delivery under the outbound policy (console/core/outbound.py): the receiver's name is
resolved when the console connects, checked then, and the connection made to that address, so a
name that was public when the stream was saved cannot rebind the push into our network."""

from __future__ import annotations

import socket

import pytest

from risk.ssf import delivery, publish, services
from risk.ssf.models import Delivery, Stream
from risk.ssf.testing import run_set_receiver

pytestmark = pytest.mark.django_db(transaction=True)
AUD = "https://rx.example"


@pytest.fixture
def receiver(live_server):
    with run_set_receiver(jwks_url=f"{live_server.url}/ssf/jwks.json", issuer=live_server.url, audience=AUD) as rx:
        yield rx


@pytest.fixture
def rebinding_dns(monkeypatch) -> dict[str, str]:
    """``rx.test`` resolves to whatever the test sets; every other name to the real resolver."""
    answer = {"rx.test": "93.184.216.34"}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "rx.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer["rx.test"], int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answer


def test_a_receiver_name_that_rebinds_to_loopback_gets_nothing(super_admin, make_user, live_server, receiver,
                                                               settings, rebinding_dns):
    settings.SSF_ALLOW_PRIVATE_ENDPOINTS = False
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    # Saved while the name answers with a public address: every check at save time passes.
    stream = services.stream_create(actor=super_admin, issuer=live_server.url, delivery_method=Stream.Method.PUSH,
                                    endpoint_url=f"http://rx.test:{receiver.port}/events", audience=[AUD])
    rebinding_dns["rx.test"] = "127.0.0.1"  # ...and then it answers with this machine
    publish.user_risk_changed(user=make_user(), previous="low", current="high", initiating_entity="policy",
                              reason_admin="test")
    assert delivery.deliver_stream(stream.pk) == 0
    assert receiver.attempts == 0
    row = Delivery.objects.get()
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error.startswith("refused by the outbound policy: rx.test resolves to 127.0.0.1")
    assert "loopback" in Stream.objects.get(pk=stream.pk).last_error


def test_a_receiver_by_name_on_an_allowed_address_is_reached_at_that_address(super_admin, make_user, live_server,
                                                                             receiver, settings, rebinding_dns):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    rebinding_dns["rx.test"] = "127.0.0.1"
    stream = services.stream_create(actor=super_admin, issuer=live_server.url, delivery_method=Stream.Method.PUSH,
                                    endpoint_url=f"http://rx.test:{receiver.port}/events", audience=[AUD])
    publish.user_risk_changed(user=make_user(), previous="low", current="high", initiating_entity="policy",
                              reason_admin="test")
    assert delivery.deliver_stream(stream.pk) == 1
    assert len(receiver.wait_for(1)) == 1


def test_an_endpoint_the_outbound_policy_refuses_is_refused_when_saved(super_admin, live_server, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []  # SSF_ALLOW_PRIVATE_ENDPOINTS stays on, as in development
    from console.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        services.stream_create(actor=super_admin, issuer=live_server.url, delivery_method=Stream.Method.PUSH,
                               endpoint_url="http://127.0.0.1:9/events", audience=[AUD])
    assert caught.value.field == "delivery.endpoint_url" and "loopback" in caught.value.message


def test_a_redirecting_receiver_is_not_followed(super_admin, make_user, live_server, settings):
    """A SET goes where the stream says; a 3xx is a failed attempt (same as before the policy)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        stream = services.stream_create(actor=super_admin, issuer=live_server.url,
                                        delivery_method=Stream.Method.PUSH, audience=[AUD],
                                        endpoint_url=f"http://127.0.0.1:{httpd.server_address[1]}/events")
        publish.user_risk_changed(user=make_user(), previous="low", current="high", initiating_entity="policy",
                                  reason_admin="test")
        assert delivery.deliver_stream(stream.pk) == 0
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert hits == ["/events"] and Delivery.objects.get().last_error == "HTTP 307"
