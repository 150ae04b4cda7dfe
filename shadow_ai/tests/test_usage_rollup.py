"""Usage discovery: Gateway HTTP logs stored through the ingest are rolled up per application,
person, device, country and unmatched host per day, with numbers computed in the test from the
rows it sent; re-running changes nothing; a late log updates its own day; newly seen
applications are flagged; library changes re-attribute past usage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from risk.services import batches
from shadow_ai import services as library_services
from shadow_ai.models import Application
from shadow_ai.tests.usage_data import expected, make_rows, ndjson
from shadow_ai.usage import rollup, services
from shadow_ai.usage.models import (
    UsageAppDay,
    UsageAppPersonDay,
    UsageAppSeen,
    UsageCountryDay,
    UsageDeviceDay,
    UsageDirtyDay,
    UsageHostDay,
    UsagePersonDay,
    UsageRollupRun,
)

pytestmark = pytest.mark.django_db
DAYS = [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]


def ingest(source, rows) -> None:
    batch = batches.ingest(source=source, body=ndjson(rows))
    assert batch.rows_rejected == 0, batch.rejected
    assert batch.rows_stored == len(rows)


def snapshot() -> dict[str, dict]:
    """The rollup tables, keyed like ``usage_data.Expected`` (application keys, not ids)."""
    key = dict(Application.objects.values_list("pk", "key"))
    return {
        "app_day": {(r.day, key[r.application_id]): {
            "requests": r.requests, "bytes_up": r.bytes_up, "bytes_down": r.bytes_down, "blocked": r.blocked,
            "users": r.users, "devices": r.devices} for r in UsageAppDay.objects.all()},
        "app_person_day": {(r.day, key[r.application_id], r.person): {
            "requests": r.requests, "bytes_up": r.bytes_up, "bytes_down": r.bytes_down}
            for r in UsageAppPersonDay.objects.all()},
        "person_day": {(r.day, r.person): {
            "requests": r.requests, "bytes_up": r.bytes_up, "bytes_down": r.bytes_down, "ai_requests": r.ai_requests,
            "ai_bytes_up": r.ai_bytes_up, "ai_bytes_down": r.ai_bytes_down, "apps": r.apps, "ai_apps": r.ai_apps}
            for r in UsagePersonDay.objects.all()},
        "device_day": {(r.day, r.device): {
            "requests": r.requests, "bytes_up": r.bytes_up, "bytes_down": r.bytes_down, "ai_requests": r.ai_requests,
            "ai_bytes_up": r.ai_bytes_up, "ai_bytes_down": r.ai_bytes_down} for r in UsageDeviceDay.objects.all()},
        "country_day": {(r.day, key[r.application_id], r.country): {
            "requests": r.requests, "bytes_up": r.bytes_up, "bytes_down": r.bytes_down, "users": r.users}
            for r in UsageCountryDay.objects.all()},
        "host_day": {(r.day, r.host): {"requests": r.requests, "bytes_up": r.bytes_up, "bytes_down": r.bytes_down,
                                       "users": r.users} for r in UsageHostDay.objects.all()},
    }


def as_dict(found) -> dict[str, dict]:
    return {name: getattr(found, name) for name in snapshot()}


def test_rollups_match_the_numbers_computed_from_the_rows(library, people, source):
    rows = make_rows(DAYS, people)
    ingest(source, rows)
    assert sorted(UsageDirtyDay.objects.values_list("day", flat=True)) == DAYS

    run = services.rollup_scheduled()

    assert run.status == UsageRollupRun.Status.DONE, run.message
    assert (run.days_total, run.days_done, run.rows_read) == (3, 3, len(rows))
    assert run.first_day == DAYS[0] and run.last_day == DAYS[-1]
    assert not UsageDirtyDay.objects.exists()
    want = expected(rows, people)
    got = snapshot()
    for table, numbers in as_dict(want).items():
        assert got[table] == numbers, table
    # The parts that are easy to get wrong, spelled out.
    assert {p for (_, _, p) in got["app_person_day"]} == {"ada@corp.example", "bob@corp.example",
                                                         "dee@corp.example", "eve@partner.example"}
    assert {h for (_, h) in got["host_day"]} == {"intranet.corp.example", "tools.unknown-ai.example"}
    assert {a for (_, a) in got["app_day"]} >= {"github", "github-copilot", "claude"}
    gateway_named = UsageHostDay.objects.filter(host="tools.unknown-ai.example").exclude(gateway_name="")
    assert set(gateway_named.values_list("gateway_name", flat=True)) <= {"Something Else"}
    assert services.rollup_scheduled() is None  # nothing dirty: no run, no row


def test_rolling_a_day_up_again_changes_nothing(library, people, source):
    rows = make_rows(DAYS, people)
    ingest(source, rows)
    services.rollup_scheduled()
    first = snapshot()
    seen = dict(UsageAppSeen.objects.values_list("application_id", "first_at"))

    services.mark_days(DAYS)
    again = services.rollup_scheduled()
    assert again.days_done == 3
    assert snapshot() == first

    rebuild = services.rollup_run(UsageRollupRun.objects.create(kind=UsageRollupRun.Kind.REBUILD).pk)
    assert rebuild.status == UsageRollupRun.Status.DONE and rebuild.days_done == 3
    assert snapshot() == first
    assert dict(UsageAppSeen.objects.values_list("application_id", "first_at")) == seen
    assert services.rollup_run(rebuild.pk).days_done == 3  # a finished run is left alone


def test_a_late_log_updates_the_day_it_belongs_to(library, people, source):
    rows = make_rows(DAYS, people)
    ingest(source, rows)
    services.rollup_scheduled()
    before = snapshot()

    late = [{"RequestID": "late-1", "Datetime": "2026-03-02T10:00:00Z", "Email": "ada@corp.example",
             "HTTPHost": "chatgpt.com", "UploadBytes": 777, "DownloadBytes": 3, "DeviceID": "mac-ada",
             "SourceIPCountryCode": "FR", "Action": "allow"}]
    ingest(source, late)
    assert list(UsageDirtyDay.objects.values_list("day", flat=True)) == [date(2026, 3, 2)]
    run = services.rollup_scheduled()

    assert run.days_total == 1 and run.first_day == date(2026, 3, 2)
    after = snapshot()
    assert as_dict(expected(rows + late, people)) == after
    chatgpt = (date(2026, 3, 2), "chatgpt")
    assert after["app_day"][chatgpt]["requests"] == before["app_day"].get(chatgpt, {"requests": 0})["requests"] + 1
    assert after["country_day"][(date(2026, 3, 2), "chatgpt", "FR")] == {
        "requests": 1, "bytes_up": 777, "bytes_down": 3, "users": 1}
    for table in after:  # the other days did not move
        assert {k: v for k, v in after[table].items() if k[0] != date(2026, 3, 2)} == \
            {k: v for k, v in before[table].items() if k[0] != date(2026, 3, 2)}


def test_a_log_stored_while_its_day_is_rolled_up_keeps_the_day_dirty(library, people, source, monkeypatch):
    ingest(source, make_rows(DAYS[:1], people))
    real = rollup.rollup_day

    def with_a_concurrent_log(day, **kwargs):
        result = real(day, **kwargs)
        services.mark_days([day])  # what the ingest does when a row of this day is stored now
        return result

    monkeypatch.setattr(rollup, "rollup_day", with_a_concurrent_log)
    services.rollup_scheduled()
    assert list(UsageDirtyDay.objects.values_list("day", flat=True)) == DAYS[:1]
    monkeypatch.setattr(rollup, "rollup_day", real)
    services.rollup_scheduled()
    assert not UsageDirtyDay.objects.exists()


def test_sending_the_same_logs_again_marks_nothing(library, people, source):
    rows = make_rows(DAYS[:1], people)
    ingest(source, rows)
    services.rollup_scheduled()
    batch = batches.ingest(source=source, body=ndjson(rows))
    assert batch.rows_duplicate == len(rows)
    assert not UsageDirtyDay.objects.exists()


def test_newly_seen_applications_are_flagged_by_their_first_use(library, people, source, settings):
    settings.SHADOW_AI_USAGE_NEW_DAYS = 7
    now = timezone.now().replace(microsecond=0)
    old = (now - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ingest(source, [
        {"RequestID": "s1", "Datetime": old, "Email": "ada@corp.example", "HTTPHost": "claude.ai"},
        {"RequestID": "s2", "Datetime": recent, "Email": "ada@corp.example", "HTTPHost": "claude.ai"},
        {"RequestID": "s3", "Datetime": recent, "Email": "bob@corp.example", "HTTPHost": "chat.deepseek.com"},
    ])
    run = services.rollup_scheduled()
    assert run.new_applications == 2 and "2 application(s) seen for the first time" in run.message

    seen = {s.application.key: s for s in UsageAppSeen.objects.select_related("application")}
    assert set(seen) == {"claude", "deepseek"}
    assert seen["claude"].first_at == datetime.strptime(old, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert seen["claude"].last_at == datetime.strptime(recent, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    from shadow_ai.selectors import applications_for_list

    flagged = {a.key for a in applications_for_list() if a.is_new}
    assert flagged == {"deepseek"}  # Claude was first used 20 days ago


def test_adding_a_custom_application_for_an_unmatched_host_moves_its_past_usage(library, people, source,
                                                                              super_admin):
    rows = make_rows(DAYS, people)
    ingest(source, rows)
    services.rollup_scheduled()
    unknown = UsageHostDay.objects.filter(host="tools.unknown-ai.example")
    requests = sum(unknown.values_list("requests", flat=True))
    assert requests > 0

    app = library_services.application_create(actor=super_admin, name="Unknown AI", category="artificial_intelligence",
                                              hostnames=["unknown-ai.example"], is_gen_ai=True)
    assert set(UsageDirtyDay.objects.values_list("day", flat=True)) == set(unknown.values_list("day", flat=True))
    services.rollup_scheduled()

    assert not UsageHostDay.objects.filter(host="tools.unknown-ai.example").exists()
    assert sum(UsageAppDay.objects.filter(application=app).values_list("requests", flat=True)) == requests

    # Deleting it gives the usage back to the unmatched host.
    library_services.application_delete(actor=super_admin, application=app)
    services.rollup_scheduled()
    assert sum(UsageHostDay.objects.filter(host="tools.unknown-ai.example").values_list("requests", flat=True)) \
        == requests


def test_a_more_specific_hostname_takes_usage_from_the_parent_domain(library, people, source, super_admin):
    ingest(source, [{"RequestID": "g1", "Datetime": "2026-03-02T10:00:00Z", "Email": "ada@corp.example",
                     "HTTPHost": "labs.github.com"}])
    services.rollup_scheduled()
    assert UsageAppDay.objects.get().application.key == "github"
    library_services.application_create(actor=super_admin, name="GitHub Labs", category="development",
                                        hostnames=["labs.github.com"])
    services.rollup_scheduled()
    assert UsageAppDay.objects.get().application.name == "GitHub Labs"


def test_days_are_days_of_the_configured_time_zone(library, people, source, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    ingest(source, [{"RequestID": "z1", "Datetime": "2026-03-02T23:30:00Z", "Email": "ada@corp.example",
                     "HTTPHost": "claude.ai"}])
    assert list(UsageDirtyDay.objects.values_list("day", flat=True)) == [date(2026, 3, 3)]
    services.rollup_scheduled()
    assert list(UsageAppDay.objects.values_list("day", flat=True)) == [date(2026, 3, 3)]
    low, high = rollup.day_bounds(date(2026, 3, 29))  # clocks go forward: a 23-hour day
    assert high.astimezone(UTC) - low.astimezone(UTC) == timedelta(hours=23)


def test_gateway_names_match_library_names_and_unambiguous_aliases():
    index = rollup.name_index([(1, "Claude", "Anthropic Claude"), (2, "Gemini", "Google Gemini, Bard"),
                               (3, "Bard Notes", "Bard")])
    assert index["claude"] == 1 and index["anthropic claude"] == 1 and index["google gemini"] == 2
    assert "bard" not in index  # two applications claim it
    from shadow_ai.hostnames import HostnameMatcher

    matcher = HostnameMatcher({})
    assert rollup.match("cdn.example", ["Nope", "CLAUDE"], matcher, index) == 1
    assert rollup.match("not a host", [], matcher, index) is None


def test_retention_forgets_old_rollups(library, people, source, settings):
    ingest(source, make_rows(DAYS[:1], people))
    services.rollup_scheduled()
    settings.SHADOW_AI_USAGE_RETENTION_DAYS = (rollup.today() - DAYS[0]).days + 1
    assert services.prune() == 0
    settings.SHADOW_AI_USAGE_RETENTION_DAYS = (rollup.today() - DAYS[0]).days - 1
    assert services.prune() > 0
    assert not UsageAppDay.objects.exists() and not UsagePersonDay.objects.exists()


def test_a_run_left_running_by_a_dead_worker_is_closed_and_its_days_rolled_up(library, people, source):
    ingest(source, make_rows(DAYS[:1], people))
    dead = UsageRollupRun.objects.create(kind=UsageRollupRun.Kind.MANUAL, status=UsageRollupRun.Status.RUNNING)
    run = services.rollup_scheduled()
    assert run.status == UsageRollupRun.Status.DONE and run.days_done == 1
    dead.refresh_from_db()
    assert dead.status == UsageRollupRun.Status.FAILED and "worker" in dead.message
    # Redelivered to another worker, a run interrupted mid-way starts again and finishes.
    # Its lease may still run: whoever holds the rollup lock knows its worker is gone.
    interrupted = UsageRollupRun.objects.create(kind=UsageRollupRun.Kind.REBUILD, status=UsageRollupRun.Status.RUNNING,
                                                days_done=7, lease_owner="dead-host:1:abc",
                                                lease_expires_at=timezone.now() + timedelta(seconds=50))
    again = services.rollup_run(interrupted.pk)
    assert again.status == UsageRollupRun.Status.DONE and again.days_done == 1
    assert again.lease_owner not in ("", "dead-host:1:abc") and again.lease_expires_at is None


def test_one_rollup_at_a_time(library, people, source):
    import psycopg
    from django.db import connection

    ingest(source, make_rows(DAYS[:1], people))
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"],
                         autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [services.LOCK_KEY])  # another worker's run
        assert services.rollup_scheduled() is None
        assert not UsageRollupRun.objects.exists()
        other.execute("SELECT pg_advisory_unlock(%s)", [services.LOCK_KEY])
    assert services.rollup_scheduled().days_done == 1


def test_the_scheduler_runs_the_rollup_and_the_maintenance(library, people, source, settings):
    from console.celery import collect_beat_schedule
    from shadow_ai import tasks

    schedule = collect_beat_schedule()
    assert schedule["shadow-ai-usage-rollup"]["task"] == "shadow_ai.tasks.usage_rollup_scheduled"
    assert schedule["shadow-ai-usage-rollup"]["schedule"] == settings.SHADOW_AI_USAGE_ROLLUP_SECONDS
    assert schedule["shadow-ai-usage-maintenance"]["task"] == "shadow_ai.tasks.usage_maintenance"
    ingest(source, make_rows(DAYS[:2], people))
    tasks.usage_rollup_scheduled()
    assert not UsageDirtyDay.objects.exists() and UsageAppDay.objects.exists()
    stale = UsageRollupRun.objects.create(kind=UsageRollupRun.Kind.MANUAL)
    UsageRollupRun.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=1))
    tasks.usage_maintenance()  # re-queues the run nobody took (and prunes nothing recent)
    assert UsageAppDay.objects.exists()
    tasks.usage_rollup(stale.pk)
    stale.refresh_from_db()
    assert stale.status == UsageRollupRun.Status.DONE


def test_only_admins_start_runs(library, auditor):
    from console.core.errors import PermissionRefused

    with pytest.raises(PermissionRefused):
        services.rollup_start(actor=auditor)
