"""The way transactional tests empty the database leaves what Django's flush would: every table
of the project's models empty (the append-only audit table too), content types and permissions
as they were, sequences not restarted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from console.audit.models import AuditEvent
from console.audit.services import audit_record
from console.testing.database import KEPT, TRUNCATE_ABOVE, empty_tables
from risk.models import GatewayDnsEvent

pytestmark = pytest.mark.django_db(transaction=True)


def _rows() -> dict[str, int]:
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        found = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
            found[table] = cursor.fetchone()[0]
    return found


def test_every_written_table_ends_empty_and_the_kept_ones_as_they_were(make_user):
    kinds, permissions = ContentType.objects.count(), Permission.objects.count()
    person = make_user(email="someone@corp.example")
    audit_record(actor=person, action="test.flushed", obj=person)
    GatewayDnsEvent.objects.bulk_create([
        GatewayDnsEvent(event_key=f"k{i}", at=datetime(2026, 1, 1, tzinfo=UTC), query_name="a.example")
        for i in range(TRUNCATE_ABOVE + 10)])  # a large table: truncated rather than deleted from
    assert AuditEvent.objects.exists()

    assert empty_tables(connection)

    left = {table: count for table, count in _rows().items() if count and table not in KEPT}
    assert left == {}
    assert (ContentType.objects.count(), Permission.objects.count()) == (kinds, permissions)
    again = make_user(email="someone.else@corp.example")
    assert again.pk > person.pk  # sequences go on, as after Django's flush


def test_a_test_that_changed_the_kept_tables_gets_djangos_flush(make_user):
    make_user(email="someone@corp.example")
    assert empty_tables(connection)  # the kept tables' counts are known from here on
    Permission.objects.filter(pk=Permission.objects.order_by("pk").values("pk")[:1]).delete()
    assert not empty_tables(connection)  # the teardown then runs Django's flush, which rebuilds them
