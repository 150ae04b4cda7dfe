"""Stream changes without a person: a receiver's token or the system saying so, never a bare
``actor=None`` (which the stream services let through before ``require_role``)."""

from __future__ import annotations

import pytest

from console.audit.models import AuditEvent
from console.core.errors import PermissionRefused
from risk.ssf import services as ssf_services
from risk.ssf.models import Delivery, Stream

pytestmark = pytest.mark.django_db


def _stream(super_admin) -> Stream:
    return ssf_services.stream_create(actor=super_admin, issuer="http://testserver", description="Okta ITP")


@pytest.mark.parametrize("call", [
    lambda stream: ssf_services.stream_delete(actor=None, stream=stream),
    lambda stream: ssf_services.stream_status_set(actor=None, stream=stream, status=Stream.Status.PAUSED),
    lambda stream: ssf_services.stream_update(actor=None, stream=stream, description="renamed"),
    lambda stream: ssf_services.subject_add(actor=None, stream=stream, subject={"format": "email",
                                                                               "email": "a@corp.example"}),
    lambda stream: ssf_services.verification_request(actor=None, stream=stream),
], ids=["delete", "status", "update", "subject", "verify"])
def test_stream_changes_without_a_person_or_a_receiver_token_are_refused(super_admin, call):
    stream = _stream(super_admin)
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionRefused, match="signed-in person"):
        call(stream)
    stream.refresh_from_db()
    assert stream.description == "Okta ITP" and stream.status == Stream.Status.ENABLED
    assert AuditEvent.objects.count() == before


def test_a_stream_without_a_person_needs_the_system_to_say_so(db):
    with pytest.raises(PermissionRefused, match="create SSF streams"):
        ssf_services.stream_create(actor=None, issuer="http://testserver")
    assert not Stream.objects.exists()
    stream = ssf_services.stream_create(actor=None, system=True, issuer="http://testserver")
    assert AuditEvent.objects.get(action="ssf.stream.created", object_id=str(stream.pk)).changes["via"] == "system"


def test_a_receiver_token_acts_on_its_stream_without_a_person(super_admin, receiver_token):
    token, _ = receiver_token("okta")
    stream = ssf_services.stream_create(actor=None, receiver=token, issuer="http://testserver")
    ssf_services.stream_status_set(actor=None, stream=stream, status=Stream.Status.PAUSED, receiver=token)
    stream.refresh_from_db()
    assert stream.status == Stream.Status.PAUSED


def test_retrying_deliveries_and_forgetting_subjects_need_a_person(super_admin):
    stream = _stream(super_admin)
    row = ssf_services.subject_add(actor=super_admin, stream=stream, subject={"format": "email",
                                                                             "email": "a@corp.example"})
    with pytest.raises(PermissionRefused):
        ssf_services.subject_forget(actor=None, stream=stream, subject_row=row)
    with pytest.raises(PermissionRefused):
        ssf_services.delivery_retry(actor=None, deliveries=Delivery.objects.all())
    assert stream.subjects.filter(pk=row.pk).exists()
