"""The publishing API other features call, and the places already wired to it: revoked
sessions (Access) and authenticator changes (MFA)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from console.core.errors import ValidationFailed
from risk.ssf import events, publish, services
from risk.ssf.models import Delivery, Stream

pytestmark = pytest.mark.django_db


def _stream(actor, **extra) -> Stream:
    values = {"delivery_method": Stream.Method.POLL, "audience": ["https://rx.example"]} | extra
    return services.stream_create(actor=actor, issuer="https://console.corp.example", **values)


def _event(row: Delivery) -> dict:
    return row.claims["events"][row.event_type]


@pytest.mark.parametrize(("call", "field"), [
    (lambda u: publish.user_risk_changed(user=u, previous="low", current="severe", initiating_entity="policy",
                                         reason_admin="x"), "current"),
    (lambda u: publish.user_risk_changed(user=u, previous="none", current="high", initiating_entity="policy",
                                         reason_admin="x"), "previous"),
    (lambda u: publish.user_risk_changed(user=u, previous="low", current="high", initiating_entity="robot",
                                         reason_admin="x"), "initiating_entity"),
    (lambda u: publish.user_risk_changed(user=u, previous="low", current="high", initiating_entity="policy",
                                         reason_admin=""), "reason_admin"),
    (lambda u: publish.session_revoked(user=u, reason="", initiating_entity="admin"), "reason"),
    (lambda u: publish.credential_changed(user=u, credential_type="smartcard", change_type="create",
                                          initiating_entity="user"), "credential_type"),
    (lambda u: publish.credential_changed(user=u, credential_type="app", change_type="rotate",
                                          initiating_entity="user"), "change_type"),
])
def test_bad_arguments_are_refused_even_when_no_stream_listens(employee, call, field):
    with pytest.raises(ValidationFailed) as caught:
        call(employee)
    assert caught.value.field == field


def test_each_event_has_its_documented_shape(super_admin, make_user):
    _stream(super_admin)
    person = make_user(email="gil@corp.example")
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    publish.user_risk_changed(user=person, previous="high", current="unscored", initiating_entity="admin",
                              reason_admin="Reset by an investigator", at=at)
    publish.session_revoked(user=person, reason="all sessions revoked by root@corp.example",
                            initiating_entity="admin", at=at)
    publish.credential_changed(user=person, credential_type="fido2-platform", change_type="create",
                               friendly_name="Touch ID", initiating_entity="user", at=at)
    risk, session, credential = Delivery.objects.order_by("id")
    subject = {"format": "complex", "user": {"format": "email", "email": "gil@corp.example"}}
    assert _event(risk) == {"subject": subject, "current_level": "low", "previous_level": "high",
                            "initiating_entity": "admin", "event_timestamp": 1772600767,
                            "reason_admin": {"en": "Reset by an investigator"}}
    assert _event(session) == {"subject": subject, "initiating_entity": "admin", "event_timestamp": 1772600767,
                               "reason_admin": {"en": "all sessions revoked by root@corp.example"}}
    assert _event(credential) == {"subject": subject, "credential_type": "fido2-platform", "change_type": "create",
                                  "friendly_name": "Touch ID", "initiating_entity": "user",
                                  "event_timestamp": 1772600767,
                                  "reason_admin": {"en": "fido2-platform credential “Touch ID” enrolled by the user"}}
    assert risk.claims["iat"] == 1772600767 and risk.claims["iss"] == "https://console.corp.example"
    assert risk.claims["txn"] != session.claims["txn"]
    assert {r.subject_label for r in (risk, session, credential)} == {"gil@corp.example"}


def test_okta_streams_get_the_older_subject_and_caep_streams_get_risk_level_change(super_admin, make_user):
    # An Okta org's push endpoint picks the older shape by itself (checked without resolving the name).
    assert services.default_event_subject("https://acme.okta.com/security/api/v1/security-events") == "okta"
    assert services.default_event_subject("https://acme.oktapreview.com/security/api/v1/security-events") == "okta"
    assert services.default_event_subject("https://receiver.example/okta.com/events") == "ssf"
    okta = services.stream_create(actor=super_admin, issuer="https://console.corp.example",
                                  delivery_method=Stream.Method.PUSH, event_subject="okta",
                                  endpoint_url="https://acme.okta.example/security/api/v1/security-events")
    caep = _stream(super_admin, events_requested=[events.RISK_LEVEL_CHANGE, events.SESSION_REVOKED],
                   subject_format="iss_sub")
    assert (okta.event_subject, caep.event_subject) == (Stream.EventSubject.OKTA, Stream.EventSubject.SSF)
    person = make_user(email="hal@corp.example")
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    with transaction.atomic():
        assert publish.user_risk_changed(user=person, previous="unscored", current="high",
                                         initiating_entity="policy", reason_admin="Impossible travel", at=at) == 2
        assert publish.user_risk_changed(user=person, previous="high", current="medium", initiating_entity="admin",
                                         reason_admin="Investigated", at=at) == 2
    first_okta, first_caep, second_okta, second_caep = Delivery.objects.order_by("id")
    assert (first_okta.stream, first_caep.stream) == (okta, caep)
    assert _event(first_okta)["subject"] == {"user": {"format": "email", "email": "hal@corp.example"}}
    assert first_caep.event_type == events.RISK_LEVEL_CHANGE
    assert _event(first_caep) == {"principal": "USER", "current_level": "HIGH", "risk_reason": "Impossible travel",
                                  "initiating_entity": "policy", "event_timestamp": 1772600767,
                                  "reason_admin": {"en": "Impossible travel"}}
    assert _event(second_caep)["previous_level"] == "HIGH" and _event(second_caep)["current_level"] == "MEDIUM"
    assert first_caep.claims["sub_id"] == {"format": "iss_sub", "iss": "https://console.corp.example",
                                           "sub": str(person.pk)}
    # One change, one txn across the streams and event types; another change, another txn.
    assert first_okta.claims["txn"] == first_caep.claims["txn"] != second_okta.claims["txn"]


def test_people_are_identified_the_way_each_stream_asks(super_admin, make_user):
    by_email = _stream(super_admin)
    by_iss_sub = _stream(super_admin, subject_format="iss_sub")
    by_id = _stream(super_admin, subject_format="opaque")
    person = make_user(email="hal@corp.example")
    assert publish.session_revoked(user=person, reason="x", initiating_entity="admin") == 3
    sub_ids = {row.stream_id: row.claims["sub_id"] for row in Delivery.objects.all()}
    assert sub_ids[by_email.pk] == {"format": "email", "email": "hal@corp.example"}
    assert sub_ids[by_iss_sub.pk] == {"format": "iss_sub", "iss": "https://console.corp.example",
                                      "sub": str(person.pk)}
    assert sub_ids[by_id.pk] == {"format": "opaque", "id": str(person.pk)}


def test_only_streams_that_asked_for_the_event_and_cover_the_person_get_it(super_admin, make_user):
    person, other = make_user(email="ivy@corp.example"), make_user(email="jon@corp.example")
    everyone = _stream(super_admin)
    risk_only = _stream(super_admin, events_requested=[events.USER_RISK_CHANGE])
    chosen = _stream(super_admin, subjects_default="NONE")
    disabled = _stream(super_admin)
    services.stream_status_set(actor=super_admin, stream=disabled, status="disabled")
    services.subject_add(actor=super_admin, stream=chosen, subject={"format": "iss_sub",
                                                                   "iss": "https://console.corp.example",
                                                                   "sub": str(person.pk)})
    services.subject_remove(actor=super_admin, stream=everyone, subject={"format": "opaque", "id": str(other.pk)})

    publish.session_revoked(user=person, reason="x", initiating_entity="admin")
    publish.session_revoked(user=other, reason="x", initiating_entity="admin")
    got = sorted((r.stream_id, r.subject_label) for r in Delivery.objects.filter(event_type=events.SESSION_REVOKED))
    assert got == [(everyone.pk, "ivy@corp.example"), (chosen.pk, "ivy@corp.example")]
    assert risk_only.pk not in {r.stream_id for r in Delivery.objects.all()}


def test_nothing_is_written_when_the_callers_transaction_rolls_back(super_admin, employee):
    _stream(super_admin)
    with pytest.raises(RuntimeError), transaction.atomic():
        publish.user_risk_changed(user=employee, previous="low", current="high", initiating_entity="policy",
                                  reason_admin="x")
        raise RuntimeError("the caller's change failed")
    assert not Delivery.objects.exists()


def test_revoking_a_persons_sessions_sends_one_session_revoked_event(super_admin, make_user):
    from console.access.models import AccessSession, Application
    from console.access.services import sessions_revoke_for_user

    _stream(super_admin)
    person = make_user(email="kim@corp.example")
    for name in ("Wiki", "Git"):
        app = Application.objects.create(name=name, domain=f"{name.lower()}.corp.example")
        AccessSession.objects.create(user=person, application=app, expires_at=timezone.now() + timedelta(hours=1))
    assert sessions_revoke_for_user(actor=super_admin, user=person) == 2
    [row] = Delivery.objects.all()
    assert row.event_type == events.SESSION_REVOKED and row.subject_label == "kim@corp.example"
    assert _event(row)["initiating_entity"] == "admin"
    assert "all sessions revoked by root@corp.example" in _event(row)["reason_admin"]["en"]
    assert sessions_revoke_for_user(actor=super_admin, user=person) == 0
    assert Delivery.objects.count() == 1  # nothing was open any more


def test_sessions_ended_by_policy_are_reported_as_such(super_admin, make_user):
    from console.access.models import AccessSession, Application
    from console.access.services import user_facts_changed

    _stream(super_admin)
    person = make_user(email="lee@corp.example")
    app = Application.objects.create(name="Payroll", domain="payroll.corp.example")  # no policy: nobody allowed
    AccessSession.objects.create(user=person, application=app, expires_at=timezone.now() + timedelta(hours=1))
    assert user_facts_changed(user_id=person.pk, reason="risk rose to high") == 1
    [row] = Delivery.objects.all()
    assert _event(row)["initiating_entity"] == "policy"
    assert _event(row)["reason_admin"] == {"en": "no longer allowed: risk rose to high"}


def test_authenticator_changes_send_credential_change_events(super_admin, make_user, rf):
    from mfa.models import TotpAuthenticator, WebAuthnAuthenticator
    from mfa.services import admin_revoke

    _stream(super_admin)
    person = make_user(email="max@corp.example")
    TotpAuthenticator.objects.create(user=person, name="Phone", confirmed=True)
    WebAuthnAuthenticator.objects.create(user=person, name="YubiKey", kind="security_key", credential_id=b"c1",
                                         credential_data=b"d", aaguid="x", confirmed=True)
    assert admin_revoke(actor=super_admin, user=person) == 2
    got = {(_event(r)["credential_type"], _event(r)["change_type"], _event(r)["friendly_name"],
            _event(r)["initiating_entity"]) for r in Delivery.objects.all()}
    assert got == {("app", "revoke", "Phone", "admin"), ("fido2-roaming", "revoke", "YubiKey", "admin")}


def test_enrolling_and_removing_an_authenticator_app_sends_create_and_delete(super_admin, client_for, employee):
    from mfa.models import TotpAuthenticator
    from mfa.tests.test_totp_and_codes import enroll_totp

    _stream(super_admin)
    client = client_for(employee)
    enroll_totp(client)
    device = TotpAuthenticator.objects.get(user=employee)
    client.post("/mfa/remove/", {"device": device.persistent_id})
    assert not TotpAuthenticator.objects.filter(user=employee).exists()
    got = [(_event(r)["credential_type"], _event(r)["change_type"], _event(r)["initiating_entity"])
           for r in Delivery.objects.order_by("id")]
    assert got == [("app", "create", "user"), ("app", "delete", "user")]


def test_a_transaction_full_of_events_queues_each_stream_once(super_admin, make_user, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    from risk.ssf import delivery

    push = _stream(super_admin, delivery_method=Stream.Method.PUSH, endpoint_url="https://rx.example/events")
    _stream(super_admin)  # poll: nothing to queue
    queued = []
    monkeypatch.setattr(delivery, "schedule_now", lambda pk, countdown=0: queued.append(pk))
    people = [make_user() for _ in range(30)]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for person in people:
            publish.session_revoked(user=person, reason="x", initiating_entity="admin")
    assert Delivery.objects.count() == 60
    assert queued == [push.pk]


def test_the_sweep_forgets_old_finished_events_and_keeps_the_rest(super_admin, make_user):
    from risk.ssf import delivery

    _stream(super_admin)
    for _ in range(3):
        publish.session_revoked(user=make_user(), reason="x", initiating_entity="admin")
    old, failed, recent = Delivery.objects.order_by("id")
    Delivery.objects.filter(pk__in=[old.pk, failed.pk, recent.pk]).update(status="delivered")
    Delivery.objects.filter(pk=failed.pk).update(status="failed")
    Delivery.objects.filter(pk__in=[old.pk, failed.pk]).update(created_at=timezone.now() - timedelta(days=31))
    delivery.sweep()
    assert set(Delivery.objects.values_list("pk", flat=True)) == {failed.pk, recent.pk}
