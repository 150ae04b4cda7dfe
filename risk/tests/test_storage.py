from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from risk.ingest import storage
from risk.models import GatewayDnsEvent

pytestmark = pytest.mark.django_db(transaction=True)
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
