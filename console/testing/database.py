"""Emptying the test database after a transactional test, cheaply.

Django ends each transactional test with ``flush``: one ``TRUNCATE`` of every table (PostgreSQL
makes new files for each table and index, seconds on a busy machine), then the ``post_migrate``
signal, which rebuilds the content types and permissions it has just removed. A test writes to a
handful of tables, so ``empty_tables`` deletes the rows of the tables that hold any (empty tables
cost a look), truncates only tables with many rows, and keeps the content types and permissions,
which are the same before and after. The result is the one ``flush`` leaves: every other table
empty, sequences where they were."""

from __future__ import annotations

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

# Rows the post_migrate signal would put back as they were: kept instead of rebuilt.
KEPT = frozenset({"django_content_type", "auth_permission"})
# A table with more rows than this is truncated rather than deleted from.
TRUNCATE_ABOVE = 5000

# One round trip. The replica role skips every ordinary trigger for this transaction: the foreign
# keys (all tables end empty) and the audit table's refusal of DELETE and TRUNCATE
# (console/audit/migrations), which an application role could not get past.
_EMPTY = """
DO $empty$
DECLARE
    name text;
    found bigint;
    large text[] := '{}';
BEGIN
    SET LOCAL session_replication_role = replica;
    FOREACH name IN ARRAY ARRAY[%(tables)s]::text[] LOOP
        EXECUTE format('SELECT count(*) FROM (SELECT FROM %%I LIMIT %(limit)s) AS rows', name) INTO found;
        IF found > %(threshold)s THEN
            large := large || name;
        ELSIF found > 0 THEN
            EXECUTE format('DELETE FROM %%I', name);
        END IF;
    END LOOP;
    IF cardinality(large) > 0 THEN
        EXECUTE 'TRUNCATE ' || (SELECT string_agg(format('%%I', t), ', ') FROM unnest(large) AS t) || ' CASCADE';
    END IF;
END
$empty$
"""

_kept_counts: dict[str, tuple[int, ...]] = {}
_tables: dict[str, list[str]] = {}


def _literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def kept_counts(connection: BaseDatabaseWrapper) -> tuple[int, ...]:
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(
            f"SELECT {i}, count(*) FROM {connection.ops.quote_name(table)}"  # noqa: S608 - our own table names
            for i, table in enumerate(sorted(KEPT))))
        return tuple(count for _, count in sorted(cursor.fetchall()))


def empty_tables(connection: BaseDatabaseWrapper) -> bool:
    """Empty every table of the project's models but the kept ones. False (nothing done) where
    this shortcut does not apply: not PostgreSQL, or a test changed the kept tables (then
    Django's own flush rebuilds them)."""
    if connection.vendor != "postgresql":
        return False
    counts = kept_counts(connection)
    expected = _kept_counts.setdefault(connection.alias, counts)
    if counts != expected:
        return False
    if connection.alias not in _tables:
        names = connection.introspection.django_table_names(only_existing=True, include_views=False)
        _tables[connection.alias] = sorted(set(names) - KEPT)
    tables = _tables[connection.alias]
    if not tables:
        return True
    sql = _EMPTY % {"tables": ", ".join(_literal(t) for t in tables), "limit": TRUNCATE_ABOVE + 1,
                    "threshold": TRUNCATE_ABOVE}
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(sql)
    return True
