"""Writing parsed telemetry rows: in bulk, once each.

On PostgreSQL a batch is COPYed into a temporary table and moved into place with
``INSERT … ON CONFLICT (event_key) DO NOTHING RETURNING``, which is close to the speed of COPY
itself and tells us exactly which rows are new. Elsewhere (the embedded SQLite default)
``bulk_create`` with ``ignore_conflicts`` does the same more slowly."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from django.db import IntegrityError, connection, models, transaction
from django.dispatch import Signal
from django.utils import timezone
from psycopg import IntegrityError as DatabaseIntegrityError

from accounts.models import User
from console.access import hotcache
from console.access.models import Device
from risk import geo
from risk.models import AuthEvent, DeviceSignal, GatewayDnsEvent, GatewayHttpEvent, PendingDetection

MODELS: dict[str, type[models.Model]] = {
    "access_requests": AuthEvent,
    "gateway_http": GatewayHttpEvent,
    "gateway_dns": GatewayDnsEvent,
    "crowdstrike_zta": DeviceSignal,
    "sentinelone_threats": DeviceSignal,
}
SOURCE_KIND = {  # telemetry kind -> RiskEvent.SourceKind (which behaviours read it)
    "access_requests": "auth",
    "gateway_http": "gateway_http",
    "gateway_dns": "gateway_dns",
    "crowdstrike_zta": "device",
    "sentinelone_threats": "device",
}
CHUNK = 5000

stored_rows = Signal()
"""Sent with ``kind`` and ``rows`` (the new rows' ``(id, user_id, at)``) inside the transaction
that stored them, so what a receiver writes commits or rolls back with the rows (Shadow AI
marks the days its usage rollups must rebuild)."""


@dataclass
class Stored:
    ids: list[int] = field(default_factory=list)
    user_ids: set[int] = field(default_factory=set)
    duplicates: int = 0
    earliest: datetime | None = None
    pending: list[int] = field(default_factory=list)
    """``PendingDetection`` rows written with the new rows (one per stored chunk with people)."""


class Resolver:
    """E-mail or device id → user id. The maps are loaded once per Access cache version in each
    process (any change to people or devices bumps it), or once per batch when that cache is off."""

    def __init__(self) -> None:
        self._emails: dict[str, int] | None = None
        self._devices: dict[str, int] | None = None
        self._unknown: set[str] = set()

    def __call__(self, email: str, device_id: str) -> int | None:
        if email:
            if self._emails is None:
                self._emails = _cached_map("risk_people_by_email", _load_emails)
            found = self._emails.get(email)
            if found is None and email not in self._unknown:
                # Someone added since the map was loaded (adding people does not bump the version).
                found = User.objects.filter(email__iexact=email, is_active=True).values_list("pk", flat=True).first()
                if found is None:
                    self._unknown.add(email)
                else:
                    self._emails[email] = found
            if found is not None:
                return found
        if device_id:
            if self._devices is None:
                self._devices = _cached_map("risk_people_by_device",
                                            lambda: dict(Device.objects.values_list("device_id", "user_id")))
            return self._devices.get(device_id)
        return None


def _load_emails() -> dict[str, int]:
    return {address.lower(): pk for address, pk in User.objects.filter(is_active=True).values_list("email", "pk")}


def _cached_map(name: str, load) -> dict:
    hotcache.ensure_fresh()
    table = hotcache.table("risk_maps")
    if name not in table:
        table[name] = load()
    return table[name]


def add_posture(rows: Iterable[dict[str, Any]]) -> None:
    """Fill in the operating system of devices whose telemetry does not carry it (a CrowdStrike
    Zero Trust Assessment has no OS version) from the device's registered posture, so "Device
    needs an update" judges the version the device reported, and nothing when none is known."""
    wanted = [row for row in rows if not row.get("os_version") and row.get("device_id")]
    if not wanted:
        return
    posture = {device_id: (os_name, version) for device_id, os_name, version in Device.objects.filter(
        device_id__in={row["device_id"] for row in wanted}).values_list("device_id", "os", "os_version")}
    for row in wanted:
        os_name, version = posture.get(row["device_id"], ("", ""))
        if version:
            row["os_version"] = version[:60]
            row["os_name"] = row.get("os_name") or os_name


def add_locations(rows: Iterable[dict[str, Any]]) -> None:
    """Place each sign-in (city with an operator-supplied database, else the country's capital)."""
    seen: dict[tuple[str | None, str], geo.Location | None] = {}
    for row in rows:
        key = (row.get("ip"), row.get("country", ""))
        if key not in seen:
            seen[key] = geo.locate(*key)
        where = seen[key]
        if where is not None:
            row["latitude"], row["longitude"], row["city"] = where.latitude, where.longitude, where.city
            row["country"] = row.get("country") or where.country
        else:
            row["latitude"] = row["longitude"] = None
            row["city"] = ""


def store(kind: str, rows: Sequence[dict[str, Any]], *, source_id: int | None) -> Stored:
    """Insert the rows that are not there yet; return the new ids and their people.

    The new rows of each chunk that belong to someone get a ``PendingDetection`` row in the same
    transaction, so stored telemetry always reaches the behaviours: the caller runs or queues
    ``risk.services.detection.detection_run`` for ``Stored.pending``, and the detection sweep catches
    whatever a crash or a broker outage left behind."""
    model = MODELS[kind]
    if kind == "access_requests":
        add_locations(rows)
    elif kind == "crowdstrike_zta":
        add_posture(rows)
    now = timezone.now()
    result = Stored()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        for row in chunk:
            row["source_id"] = source_id
            row["received_at"] = now
        with transaction.atomic():
            if connection.vendor == "postgresql":
                new = _copy_insert(model, chunk)
            else:
                new = _bulk_insert(model, chunk)
            if new:
                stored_rows.send(sender=model, kind=kind, rows=new)
                scored = [pk for pk, user_id, _ in new if user_id is not None]
                if scored:
                    result.pending.append(PendingDetection.objects.create(
                        source_kind=SOURCE_KIND[kind], event_ids=scored, queued_at=now).pk)
        result.duplicates += len(chunk) - len(new)
        for pk, user_id, at in new:
            result.ids.append(pk)
            if user_id is not None:
                result.user_ids.add(user_id)
            if result.earliest is None or at < result.earliest:
                result.earliest = at
    return result


def _columns(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _copy_insert(model: type[models.Model], chunk: Sequence[dict[str, Any]]) -> list[tuple[int, Any, datetime]]:
    """Take ids from the table's sequence and COPY the rows straight into the table (repeats
    within the chunk dropped first). Rows sent before make the COPY fail on the unique key;
    then the chunk goes through a temporary table and ``INSERT … ON CONFLICT DO NOTHING``,
    which stores exactly the new ones. Fresh telemetry, the common case, pays for COPY alone."""
    fields = _columns(model)
    table = model._meta.db_table
    fresh = list({row["event_key"]: row for row in reversed(chunk)}.values())[::-1]  # the first of each key
    with connection.cursor() as cursor:
        raw = cursor.cursor
        raw.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [table, len(fresh)])
        ids = [pk for (pk,) in raw.fetchall()]
        try:
            with transaction.atomic():
                _copy(raw, table, fields, fresh, ids)
        except (IntegrityError, DatabaseIntegrityError):  # the raw cursor raises psycopg's own
            return _copy_through_temporary(raw, table, fields, fresh, ids)
    return [(pk, row.get("user_id"), row["at"]) for pk, row in zip(ids, fresh, strict=True)]


def _copy(raw, table: str, fields: list[models.Field], rows: Sequence[dict[str, Any]], ids: list[int]) -> None:
    names = ", ".join(["id", *(f.column for f in fields)])
    attnames = [f.attname for f in fields]
    defaults = {f.attname: f.get_default() for f in fields}
    json_positions = [n for n, f in enumerate(fields, start=1) if isinstance(f, models.JSONField)]
    take = operator.itemgetter(*attnames)
    with raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for pk, row in zip(ids, rows, strict=True):
            try:
                values = [pk, *take(row)]
            except KeyError:  # a row without some columns: their defaults
                values = [pk, *(row.get(name, defaults[name]) for name in attnames)]
            for n in json_positions:
                value = values[n]
                values[n] = "[]" if value == [] else orjson.dumps(value).decode()
            copy.write_row(values)


def _copy_through_temporary(
    raw, table: str, fields: list[models.Field], rows: Sequence[dict[str, Any]], ids: list[int],
) -> list[tuple[int, Any, datetime]]:
    names = ", ".join(["id", *(f.column for f in fields)])
    incoming = f"risk_incoming_{table}"
    raw.execute(f"CREATE TEMP TABLE IF NOT EXISTS {incoming} ON COMMIT DELETE ROWS "  # noqa: S608
                f"AS SELECT {names} FROM {table} WITH NO DATA")
    _copy(raw, incoming, fields, rows, ids)
    raw.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {incoming} "  # noqa: S608
                f"ON CONFLICT (event_key) DO NOTHING RETURNING id, user_id, at")
    inserted = raw.fetchall()
    raw.execute(f"TRUNCATE {incoming}")
    return inserted


def _bulk_insert(model: type[models.Model], chunk: Sequence[dict[str, Any]]) -> list[tuple[int, Any, datetime]]:
    keys = [row["event_key"] for row in chunk]
    existing = set(model.objects.filter(event_key__in=keys).values_list("event_key", flat=True))
    fields = {f.attname for f in _columns(model)}
    fresh, seen = [], set()
    for row in chunk:
        if row["event_key"] in existing or row["event_key"] in seen:
            continue
        seen.add(row["event_key"])
        fresh.append(model(**{k: v for k, v in row.items() if k in fields}))
    model.objects.bulk_create(fresh, ignore_conflicts=True, batch_size=500)
    return list(model.objects.filter(event_key__in=list(seen)).values_list("id", "user_id", "at"))
