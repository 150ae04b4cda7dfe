"""Refuse TRUNCATE of the audit trail on PostgreSQL.

The row triggers of 0001 refuse UPDATE and DELETE, but TRUNCATE fires no row trigger: one
statement emptied the table (``TRUNCATE audit_auditevent``, or a ``TRUNCATE … CASCADE`` of a
table it is reached from). A statement-level BEFORE TRUNCATE trigger closes that. SQLite has
no TRUNCATE (its ``DELETE FROM`` is refused by 0001). Only the table's owner can drop the
trigger: run the application with a role that does not own the table (docs/deployment.md)."""

from django.db import migrations

POSTGRES_UP = """
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
"""
POSTGRES_DOWN = "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;"


def install_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)


def remove_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install_trigger, remove_trigger)]
