from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from risk.ingest import storage
from risk.models import GatewayDnsEvent

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _rows(keys):
    return [{"event_key": k, "at": T0 + timedelta(seconds=i), "email": "", "user_id": None,
             "query_name": f"{k}.example", "category_names": ["News"]} for i, k in enumerate(keys)]


def test_rows_are_stored_once_even_when_repeated_within_a_batch():
    first = storage.store("gateway_dns", _rows(["a", "b", "a"]), source_id=None)
    assert (len(first.ids), first.duplicates) == (2, 1)
    second = storage.store("gateway_dns", _rows(["b", "c"]), source_id=None)
    assert (len(second.ids), second.duplicates) == (1, 1)
    assert sorted(GatewayDnsEvent.objects.values_list("event_key", flat=True)) == ["a", "b", "c"]
    assert set(GatewayDnsEvent.objects.values_list("pk", flat=True)) == set(first.ids + second.ids)


def test_rows_sent_before_are_skipped_and_the_rest_stored():
    storage.store("gateway_dns", _rows(["a"]), source_id=None)
    # The straight COPY hits the unique key; the chunk takes the path that skips conflicts.
    result = storage.store("gateway_dns", _rows(["a", "b"]), source_id=None)
    assert (len(result.ids), result.duplicates) == (1, 1)
    assert GatewayDnsEvent.objects.count() == 2
    assert GatewayDnsEvent.objects.get(event_key="b").pk == result.ids[0]


def test_people_are_found_by_e_mail_even_when_added_after_the_map_was_loaded(settings, make_user):
    from console.access import hotcache

    settings.ACCESS_HOT_CACHE = True
    hotcache.clear()
    try:
        first = make_user(email="first@corp.example")
        assert storage.Resolver()("first@corp.example", "") == first.pk  # loads the map
        later = make_user(email="later@corp.example")  # no version bump for a new person
        assert storage.Resolver()("later@corp.example", "") == later.pk
        assert storage.Resolver()("nobody@corp.example", "") is None
    finally:
        hotcache.clear()


def test_old_telemetry_is_pruned_and_risk_events_stay(settings, employee):
    from django.utils import timezone

    from risk.models import IngestBatch, RiskEvent, TelemetrySource
    from risk.services import batches

    settings.RISK_TELEMETRY_RETENTION_DAYS = 30
    now = timezone.now()
    old = storage.store("gateway_dns", [dict(r, at=now - timedelta(days=40)) for r in _rows(["old"])], source_id=None)
    storage.store("gateway_dns", [dict(r, at=now - timedelta(days=2)) for r in _rows(["new"])], source_id=None)
    RiskEvent.objects.create(user=employee, behaviour="high_risk_domain", level=2, at=now - timedelta(days=40),
                             source_kind="gateway_dns", source_id=old.ids[0], summary="x", dedupe_key="k")
    sender = TelemetrySource.objects.create(name="s", kind="gateway_dns", prefix="p", secret_hash="h")
    IngestBatch.objects.create(source=sender, kind="gateway_dns", status="done", received_at=now - timedelta(days=90))
    deleted = batches.prune_telemetry(batch_size=1)
    assert deleted["gatewaydnsevent"] == 1 and deleted["ingestbatch"] == 1
    assert list(GatewayDnsEvent.objects.values_list("event_key", flat=True)) == ["new"]
    assert RiskEvent.objects.count() == 1
    assert batches.prune_telemetry()["gatewaydnsevent"] == 0  # a second run finds nothing
