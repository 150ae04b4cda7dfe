"""End to end with a real Celery worker process on the real Redis broker: an event published
in a transaction is pushed by the worker once the transaction commits, and one published while
the receiver is down arrives, once, when it comes back."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from risk.ssf import events, publish, services
from risk.ssf.models import Delivery, Stream
from risk.ssf.testing import push_stream, run_set_receiver

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
AUD = "https://rx.example"


@pytest.fixture
def quick_retries(monkeypatch):
    """Read by the worker process when it starts (the fixture below copies the environment)."""
    monkeypatch.setenv("SSF_RETRY_BASE_SECONDS", "0.5")
    monkeypatch.setenv("SSF_RETRY_MAX_SECONDS", "1")


def _wait(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_the_worker_pushes_a_committed_event_to_the_receiver(quick_retries, celery_worker_process, live_server,
                                                              super_admin, make_user):
    person = make_user(email="pia@corp.example")
    with run_set_receiver(jwks_url=f"{live_server.url}/ssf/jwks.json", issuer=live_server.url,
                          audience=AUD) as receiver:
        push_stream(receiver, issuer=live_server.url)
        started = time.monotonic()
        with transaction.atomic():
            publish.user_risk_changed(user=person, previous="low", current="high", initiating_entity="policy",
                                      reason_admin="Impossible travel")
            time.sleep(0.5)
            assert receiver.attempts == 0  # nothing leaves before the commit
        [claims] = receiver.wait_for(1)
        elapsed = time.monotonic() - started - 0.5
        assert claims["events"][events.USER_RISK_CHANGE]["current_level"] == "high"
        assert claims["sub_id"] == {"format": "email", "email": "pia@corp.example"}
        assert _wait(lambda: Delivery.objects.filter(status="delivered").exists())
        assert elapsed < 5, f"the push took {elapsed:.2f} s"


def test_an_event_outlives_a_receiver_outage_and_arrives_once(quick_retries, celery_worker_process, live_server,
                                                               super_admin, make_user):
    person = make_user(email="quinn@corp.example")
    with run_set_receiver(jwks_url=f"{live_server.url}/ssf/jwks.json", issuer=live_server.url,
                          audience=AUD) as receiver:
        services.stream_create(actor=super_admin, issuer=live_server.url, delivery_method=Stream.Method.PUSH,
                               endpoint_url=receiver.url, audience=[AUD])
        receiver.stop()
        publish.session_revoked(user=person, reason="all sessions revoked", initiating_entity="admin")
        _wait(lambda: Delivery.objects.filter(attempts__gte=2, status="pending").exists())
        receiver.start()
        [claims] = receiver.wait_for(1)
        assert events.SESSION_REVOKED in claims["events"]
        row = _wait(lambda: Delivery.objects.filter(status="delivered").first())
        assert row.attempts >= 3 and row.jti == claims["jti"]
        time.sleep(1.5)
        assert receiver.duplicates == [] and len(receiver.received) == 1
