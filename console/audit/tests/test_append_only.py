import pytest
from django.db import DatabaseError, connection, transaction

from conftest import mark_mfa_verified
from console.audit.models import AuditEvent
from console.audit.services import audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(super_admin):
    return audit_record(actor=super_admin, action="test.event", object_repr="x", changes={"a": 1})


def test_the_database_refuses_to_update_an_audit_row(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_auditevent SET actor_email = 'someone@else' WHERE id = %s", [event.pk])
    event.refresh_from_db()
    assert event.action == "test.event"
    assert event.actor_email == "root@corp.example"


def test_the_database_refuses_to_delete_an_audit_row(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's")
@pytest.mark.parametrize("statement", [
    "TRUNCATE audit_auditevent", "TRUNCATE TABLE audit_auditevent RESTART IDENTITY CASCADE",
])
def test_the_database_refuses_to_truncate_the_audit_table(event, statement):
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_truncate_is_refused_outside_a_test_transaction_too(super_admin):
    """Committed rows, autocommit: as in production. (The test database's own flush after this
    test still empties the table: see the root conftest.)"""
    event = audit_record(actor=super_admin, action="test.event", object_repr="x", changes={})
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_an_audit_row_records_who_what_where(client, super_admin):
    client.force_login(super_admin, backend="django.contrib.auth.backends.ModelBackend")
    mark_mfa_verified(client, super_admin)
    client.post(
        "/accounts/groups/new/", {"name": "Blue Team", "description": "Defenders"},
        REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="pytest-agent",
    )
    row = AuditEvent.objects.get(action="group.created")
    assert row.actor_email == "root@corp.example"
    assert row.actor_role == "super_admin"
    assert row.object_type == "accounts.group"
    assert row.object_repr == "Blue Team"
    assert row.changes == {
        "description": {"old": None, "new": "Defenders"}, "name": {"old": None, "new": "Blue Team"},
    }
    assert row.ip == "203.0.113.9"
    assert row.user_agent == "pytest-agent"
    assert len(row.request_id) == 32


def test_a_failed_change_leaves_no_audit_row(super_admin):
    from accounts.services.groups import group_create
    from console.core.errors import Conflict

    group_create(actor=super_admin, name="Ops")
    before = AuditEvent.objects.count()
    with pytest.raises(Conflict):
        group_create(actor=super_admin, name="ops")
    assert AuditEvent.objects.count() == before
