"""The console pages: admins manage streams, subjects, the outbox and keys; auditors read."""

from __future__ import annotations

import pytest

from console.audit.models import AuditEvent
from risk.ssf import events, publish, services
from risk.ssf.models import Delivery, SigningKey, Stream, StreamSubject

pytestmark = pytest.mark.django_db


def _stream(actor, **extra) -> Stream:
    values = {"delivery_method": Stream.Method.PUSH, "endpoint_url": "https://acme.okta.example/security/api/v1/"
              "security-events", "audience": ["https://acme.okta.example"], "description": "Okta ITP"} | extra
    return services.stream_create(actor=actor, issuer="http://testserver", **values)


def test_an_admin_creates_a_push_stream_to_okta(client_for, super_admin, receiver_token):
    token, _ = receiver_token("okta")
    client = client_for(super_admin)
    page = client.get("/risk/ssf/streams/")
    assert b"No streams yet" in page.content and b"Create a stream" in page.content
    assert b"http://testserver/.well-known/ssf-configuration" in page.content
    response = client.post("/risk/ssf/streams/new/", {
        "description": "Okta ITP", "delivery_method": Stream.Method.PUSH,
        "endpoint_url": "https://acme.okta.example/security/api/v1/security-events",
        "authorization_header": "SSWS very-secret", "audience": "https://acme.okta.example",
        "events_requested": [events.USER_RISK_CHANGE, events.SESSION_REVOKED], "subjects_default": "ALL",
        "subject_format": "email", "receiver": token.pk,
    })
    stream = Stream.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/risk/ssf/streams/{stream.pk}/"
    assert stream.audience == ["https://acme.okta.example"] and stream.receiver == token
    assert stream.authorization_header == "SSWS very-secret" and stream.issuer == "http://testserver"
    detail = client.get(response["Location"]).content.decode()
    assert "very-secret" not in detail and "with an authorization header" in detail
    assert "User risk change, Session revoked" in detail
    audit = AuditEvent.objects.get(action="ssf.stream.created")
    assert audit.actor_email == super_admin.email and audit.changes["authorization_header"]["new"] == "[secret]"
    listing = client.get("/risk/ssf/streams/?q=okta&status=enabled").content.decode()
    assert "Okta ITP" in listing and stream.stream_id in listing


def test_form_errors_name_the_field(client_for, super_admin):
    client = client_for(super_admin)
    response = client.post("/risk/ssf/streams/new/", {
        "delivery_method": Stream.Method.PUSH, "endpoint_url": "ftp://rx.example", "events_requested":
        [events.USER_RISK_CHANGE], "subjects_default": "ALL", "subject_format": "email",
    })
    assert response.status_code == 200
    assert response.context["form"].errors["endpoint_url"] == ["The endpoint URL must be an https or http URL."]
    assert not Stream.objects.exists()


def test_an_admin_edits_pauses_verifies_and_deletes_a_stream(client_for, super_admin):
    stream = _stream(super_admin, authorization_header="SSWS keep-me")
    client = client_for(super_admin)
    url = f"/risk/ssf/streams/{stream.pk}/"
    edit = client.post(f"{url}edit/", {
        "description": "Okta ITP (prod)", "delivery_method": Stream.Method.PUSH, "endpoint_url": stream.endpoint_url,
        "audience": "https://acme.okta.example", "events_requested": list(events.SUPPORTED),
        "subjects_default": "NONE", "subject_format": "email", "authorization_header": "",
    })
    assert edit.status_code == 302
    stream.refresh_from_db()
    assert stream.description == "Okta ITP (prod)" and stream.subjects_default == "NONE"
    assert stream.authorization_header == "SSWS keep-me"  # empty field keeps the stored secret

    client.post(f"{url}status/", {"status": "paused", "reason": "Okta maintenance"})
    stream.refresh_from_db()
    assert (stream.status, stream.status_reason) == ("paused", "Okta maintenance")
    assert Delivery.objects.get(event_type=events.STREAM_UPDATED).control

    client.post(f"{url}verify/")
    assert Delivery.objects.filter(event_type=events.VERIFICATION).count() == 1
    again = client.post(f"{url}verify/", follow=True)
    assert b"One verification event every" in again.content
    assert Delivery.objects.filter(event_type=events.VERIFICATION).count() == 1

    page = client.get(url).content.decode()
    assert "Okta maintenance" in page and "held while paused" in page and "Verification" in page
    client.post(f"{url}delete/")
    assert not Stream.objects.exists()
    actions = set(AuditEvent.objects.filter(object_type="ssf.stream").values_list("action", flat=True))
    assert actions >= {"ssf.stream.created", "ssf.stream.updated", "ssf.stream.status_changed",
                       "ssf.stream.verification_requested", "ssf.stream.deleted"}


def test_subjects_are_managed_on_their_page(client_for, super_admin):
    stream = _stream(super_admin, subjects_default="NONE")
    client = client_for(super_admin)
    url = f"/risk/ssf/streams/{stream.pk}/subjects/"
    assert b"No subject entries" in client.get(url).content
    ok = client.post(f"{url}change/", {"action": "add", "format": "email", "value": "Nia@Corp.example"})
    assert ok.status_code == 302
    bad = client.post(f"{url}change/", {"action": "add", "format": "email", "value": "not-an-address"})
    assert bad.status_code == 400 and "must be an e-mail address" in bad.context["form"].errors["value"][0]
    row = StreamSubject.objects.get()
    assert row.key == "email:nia@corp.example" and row.included
    assert b"email:nia@corp.example" in client.get(f"{url}?q=nia").content
    client.post(f"{url}{row.pk}/forget/")
    assert not StreamSubject.objects.exists()
    assert AuditEvent.objects.filter(action__in=["ssf.subject.added", "ssf.subject.forgotten"]).count() == 2


def test_the_outbox_lists_filters_and_retries(client_for, super_admin, make_user):
    stream = _stream(super_admin)
    publish.session_revoked(user=make_user(email="ola@corp.example"), reason="x", initiating_entity="admin")
    row = Delivery.objects.get()
    row.status, row.last_error, row.attempts = "failed", "HTTP 401 authentication_failed: bad token", 20
    row.save()
    client = client_for(super_admin)
    page = client.get("/risk/ssf/outbox/?status=failed").content.decode()
    assert "ola@corp.example" in page and "authentication_failed" in page and "Retry now" in page
    assert "ola@corp.example" not in client.get("/risk/ssf/outbox/?status=delivered").content.decode()
    partial = client.get("/risk/ssf/outbox/?q=ola", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "ola@corp.example" in partial
    client.post(f"/risk/ssf/outbox/{row.pk}/retry/", {"next": "/risk/ssf/outbox/"})
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 0)
    assert AuditEvent.objects.filter(action="ssf.delivery.retried", object_id=str(stream.pk)).exists()


def test_keys_are_listed_and_rotated(client_for, super_admin):
    client = client_for(super_admin)
    page = client.get("/risk/ssf/keys/").content.decode()
    first = SigningKey.objects.get()
    assert first.kid in page and "Signing" in page
    client.post("/risk/ssf/keys/rotate/")
    assert SigningKey.objects.count() == 2
    page = client.get("/risk/ssf/keys/").content.decode()
    assert "Published, retired" in page
    assert AuditEvent.objects.filter(action="ssf.key.rotated").exists()


def test_auditors_read_and_change_nothing(client_for, auditor, super_admin):
    stream = _stream(super_admin)
    client = client_for(auditor)
    for url in ("/risk/ssf/streams/", f"/risk/ssf/streams/{stream.pk}/", "/risk/ssf/outbox/", "/risk/ssf/keys/",
                f"/risk/ssf/streams/{stream.pk}/subjects/"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert b"Delete" not in page.content and b"Rotate key" not in page.content and b"New stream" not in page.content
    for url in (f"/risk/ssf/streams/{stream.pk}/delete/", f"/risk/ssf/streams/{stream.pk}/status/",
                "/risk/ssf/keys/rotate/", f"/risk/ssf/streams/{stream.pk}/subjects/change/"):
        assert client.post(url, {"status": "paused"}).status_code == 403, url
    assert Stream.objects.get().status == "enabled"


def test_the_risk_menu_lists_the_pages(client_for, auditor):
    page = client_for(auditor).get("/risk/ssf/streams/").content.decode()
    assert "Shared Signals streams" in page and "Shared Signals outbox" in page and "Shared Signals keys" in page


def test_list_pages_read_a_fixed_number_of_queries(client_for, super_admin, make_user,
                                                   django_assert_max_num_queries):
    for n in range(5):
        _stream(super_admin, description=f"Stream {n}")
    for _ in range(10):
        publish.session_revoked(user=make_user(), reason="x", initiating_entity="admin")
    client = client_for(super_admin)
    for url in ("/risk/ssf/streams/", "/risk/ssf/outbox/", "/risk/ssf/keys/"):
        with django_assert_max_num_queries(14):
            assert client.get(url).status_code == 200


def test_the_subject_shape_is_chosen_in_the_form_and_shown(client_for, super_admin):
    client = client_for(super_admin)
    form = client.get("/risk/ssf/streams/new/").content.decode()
    assert "Subject inside events" in form and "Okta compatible" in form
    values = {"description": "CAEP receiver", "delivery_method": Stream.Method.POLL, "endpoint_url": "",
              "audience": "https://caep.example", "events_requested": [events.RISK_LEVEL_CHANGE],
              "subjects_default": "ALL", "subject_format": "email"}
    client.post("/risk/ssf/streams/new/", values)
    client.post("/risk/ssf/streams/new/", values | {"description": "Legacy", "event_subject": "okta"})
    caep, legacy = Stream.objects.get(description="CAEP receiver"), Stream.objects.get(description="Legacy")
    assert (caep.event_subject, legacy.event_subject) == ("ssf", "okta")
    assert caep.events_delivered == [events.RISK_LEVEL_CHANGE]
    detail = client.get(f"/risk/ssf/streams/{legacy.pk}/").content.decode()
    assert "Okta compatible (subject.user, no format)" in detail and "Risk level change (CAEP)" in detail
