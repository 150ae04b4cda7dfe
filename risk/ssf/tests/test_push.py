"""Push delivery (RFC 8935) to a real receiver on loopback that verifies every SET against our
JWKS, fetched over HTTP from the running console."""

from __future__ import annotations

import time

import pytest
from django.db import transaction
from django.utils import timezone

from risk.ssf import delivery, events, keys, publish, services
from risk.ssf.models import Delivery, Stream
from risk.ssf.testing import run_set_receiver

pytestmark = pytest.mark.django_db(transaction=True)
AUD = "https://rx.example"


@pytest.fixture
def receiver(live_server):
    with run_set_receiver(jwks_url=f"{live_server.url}/ssf/jwks.json", issuer=live_server.url, audience=AUD) as rx:
        yield rx


@pytest.fixture
def fast_retries(settings):
    settings.SSF_RETRY_BASE_SECONDS = 0.2
    settings.SSF_RETRY_MAX_SECONDS = 0.4


def _stream(actor, live_server, receiver, **extra) -> Stream:
    values = {"delivery_method": Stream.Method.PUSH, "endpoint_url": receiver.url, "audience": [AUD]} | extra
    return services.stream_create(actor=actor, issuer=live_server.url, **values)


def test_a_published_risk_change_reaches_the_receiver_signed_and_complete(super_admin, make_user, live_server,
                                                                          receiver):
    stream = _stream(super_admin, live_server, receiver, authorization_header="Bearer rx-token")
    receiver.authorization = "Bearer rx-token"
    person = make_user(email="dana@corp.example")
    before = int(time.time())
    with transaction.atomic():
        assert publish.user_risk_changed(user=person, previous="unscored", current="high",
                                         initiating_entity="policy", reason_admin="Impossible travel",
                                         reason_user="Sign-ins from two continents") == 1
    assert delivery.deliver_stream(stream.pk) == 1

    [claims] = receiver.wait_for(1)
    assert receiver.headers[0]["typ"] == "secevent+jwt" and receiver.headers[0]["alg"] == "RS256"
    assert claims["iss"] == live_server.url and claims["aud"] == AUD
    assert before <= claims["iat"] <= int(time.time()) and len(claims["jti"]) == 32
    assert claims["sub_id"] == {"format": "email", "email": "dana@corp.example"}
    assert "sub" not in claims and "exp" not in claims and claims["txn"]
    event = claims["events"][events.USER_RISK_CHANGE]
    assert event == {
        "subject": {"format": "complex", "user": {"format": "email", "email": "dana@corp.example"}},
        "current_level": "high", "previous_level": "low", "initiating_entity": "policy",
        "event_timestamp": event["event_timestamp"], "reason_admin": {"en": "Impossible travel"},
        "reason_user": {"en": "Sign-ins from two continents"},
    }
    assert before <= event["event_timestamp"] <= int(time.time())
    row = Delivery.objects.get()
    assert (row.status, row.attempts, row.jti) == ("delivered", 1, claims["jti"])
    assert Stream.objects.get(pk=stream.pk).last_delivery_at is not None


def test_while_the_receiver_is_down_events_wait_in_order_and_arrive_once_it_is_back(
    super_admin, make_user, live_server, receiver, fast_retries
):
    stream = _stream(super_admin, live_server, receiver)
    person = make_user(email="eve@corp.example")
    receiver.stop()
    for current in ("medium", "high"):
        publish.user_risk_changed(user=person, previous="low", current=current, initiating_entity="policy",
                                  reason_admin=f"to {current}")
    assert delivery.deliver_stream(stream.pk) == 0
    first, second = Delivery.objects.order_by("id")
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.last_error == "receiver unreachable: connection refused"
    assert second.attempts == 0  # nothing overtakes the first event
    assert first.next_attempt_at > first.last_attempt_at

    # Still down at the next attempt: the pause grows (up to the cap), with jitter.
    time.sleep(0.25)
    delivery.deliver_stream(stream.pk)
    first.refresh_from_db()
    assert first.attempts == 2 and first.status == "pending"

    receiver.start()
    time.sleep(0.45)
    assert delivery.deliver_stream(stream.pk) == 2
    delivery.deliver_stream(stream.pk)  # a redelivered task changes nothing
    received = receiver.wait_for(2)
    assert [c["events"][events.USER_RISK_CHANGE]["current_level"] for c in received] == ["medium", "high"]
    assert receiver.duplicates == [] and len(receiver.received) == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_receiver_errors_are_retried_and_reported(super_admin, make_user, live_server, receiver, fast_retries):
    stream = _stream(super_admin, live_server, receiver)
    receiver.fail_next(2)
    publish.session_revoked(user=make_user(), reason="revoked by an admin", initiating_entity="admin")
    delivery.deliver_stream(stream.pk)
    row = Delivery.objects.get()
    assert row.last_error.startswith("HTTP 503 unavailable")
    assert Stream.objects.get(pk=stream.pk).last_error.startswith("HTTP 503")
    for _ in range(20):
        time.sleep(0.2)
        delivery.deliver_stream(stream.pk)
        row.refresh_from_db()
        if row.status == "delivered":
            break
    assert row.status == "delivered" and row.attempts == 3 and receiver.attempts == 3
    assert Stream.objects.get(pk=stream.pk).last_error == ""


def test_a_wrong_audience_is_refused_by_the_receiver_until_the_stream_is_fixed(super_admin, make_user, live_server,
                                                                               receiver, fast_retries):
    stream = _stream(super_admin, live_server, receiver, audience=["https://wrong.example"])
    publish.credential_changed(user=make_user(), credential_type="fido2-roaming", change_type="create",
                               friendly_name="YubiKey", initiating_entity="user")
    delivery.deliver_stream(stream.pk)
    row = Delivery.objects.get()
    assert row.status == "pending" and "invalid_audience" in row.last_error
    # The admin fixes the audience; the waiting event goes out with the stream's new audience.
    services.stream_update(actor=super_admin, stream=stream, audience=[AUD])
    for _ in range(20):
        time.sleep(0.2)
        delivery.deliver_stream(stream.pk)
        if receiver.received:
            break
    [claims] = receiver.wait_for(1)
    assert claims["aud"] == AUD and claims["jti"] == row.jti


def test_events_that_fail_for_good_can_be_retried_from_the_outbox(super_admin, make_user, live_server, receiver,
                                                                   settings, fast_retries):
    settings.SSF_MAX_ATTEMPTS = 1
    stream = _stream(super_admin, live_server, receiver)
    receiver.stop()
    publish.session_revoked(user=make_user(), reason="x", initiating_entity="admin")
    delivery.deliver_stream(stream.pk)
    row = Delivery.objects.get()
    assert row.status == "failed"
    receiver.start()
    assert services.delivery_retry(actor=super_admin, deliveries=[row]) == 1
    assert delivery.deliver_stream(stream.pk) == 1
    receiver.wait_for(1)


def test_a_paused_stream_holds_events_and_a_disabled_one_drops_them(super_admin, make_user, live_server, receiver):
    stream = _stream(super_admin, live_server, receiver)
    person = make_user(email="fay@corp.example")
    services.stream_status_set(actor=super_admin, stream=stream, status="paused", reason="maintenance")
    publish.user_risk_changed(user=person, previous="low", current="medium", initiating_entity="policy",
                              reason_admin="held")
    delivery.deliver_stream(stream.pk)
    # Only the transmitter's own stream-updated event goes out while paused.
    [updated] = receiver.wait_for(1)
    assert updated["events"] == {events.STREAM_UPDATED: {"status": "paused", "reason": "maintenance"}}
    assert updated["sub_id"] == {"format": "opaque", "id": stream.stream_id}
    assert Delivery.objects.get(event_type=events.USER_RISK_CHANGE).status == "pending"

    services.stream_status_set(actor=super_admin, stream=stream, status="enabled")
    delivery.deliver_stream(stream.pk)
    received = receiver.wait_for(3)
    assert events.USER_RISK_CHANGE in received[1]["events"]
    assert received[2]["events"] == {events.STREAM_UPDATED: {"status": "enabled"}}

    services.stream_status_set(actor=super_admin, stream=stream, status="paused")
    publish.user_risk_changed(user=person, previous="medium", current="high", initiating_entity="policy",
                              reason_admin="dropped")
    services.stream_status_set(actor=super_admin, stream=stream, status="disabled")
    assert Delivery.objects.get(claims__events__has_key=events.USER_RISK_CHANGE,
                                status="dropped").last_error == "the stream was disabled"
    assert publish.user_risk_changed(user=person, previous="high", current="low", initiating_entity="admin",
                                     reason_admin="not kept") == 0


def test_events_signed_before_a_rotation_still_verify(super_admin, make_user, live_server, receiver):
    stream = _stream(super_admin, live_server, receiver)
    old = keys.current_key()
    publish.session_revoked(user=make_user(), reason="x", initiating_entity="admin")
    delivery.deliver_stream(stream.pk)
    new = keys.key_rotate(actor=super_admin)
    publish.session_revoked(user=make_user(), reason="y", initiating_entity="admin")
    delivery.deliver_stream(stream.pk)
    receiver.wait_for(2)
    assert [h["kid"] for h in receiver.headers] == [old.kid, new.kid]


def test_a_verification_event_carries_the_state(super_admin, live_server, receiver):
    stream = _stream(super_admin, live_server, receiver)
    services.verification_request(actor=super_admin, stream=stream, state="s-1")
    delivery.deliver_stream(stream.pk)
    [claims] = receiver.wait_for(1)
    assert claims["events"] == {events.VERIFICATION: {"state": "s-1"}}


def test_the_sweep_requeues_streams_with_due_events(super_admin, make_user, live_server, receiver):
    stream = _stream(super_admin, live_server, receiver)
    publish.session_revoked(user=make_user(), reason="x", initiating_entity="admin")
    assert delivery.sweep() == 1
    Delivery.objects.update(next_attempt_at=timezone.now() + timezone.timedelta(hours=1))
    assert delivery.sweep() == 0
    assert stream.pk


def test_backoff_doubles_up_to_the_cap_with_jitter(settings):
    settings.SSF_RETRY_BASE_SECONDS = 5
    settings.SSF_RETRY_MAX_SECONDS = 3600
    for attempts, ceiling in ((1, 5), (2, 10), (3, 20), (8, 640), (20, 3600)):
        samples = [delivery.backoff(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1  # jitter
