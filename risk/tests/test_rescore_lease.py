"""A full rescore is claimed with a lease its worker renews chunk by chunk: a rescore that runs
long is never run twice, and a worker whose lease was taken over stops without touching the run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from risk import scoring, services
from risk.models import Level, RescoreRun, UserRisk

pytestmark = pytest.mark.django_db


@pytest.fixture
def requeued(monkeypatch) -> list[int]:
    sent: list[int] = []
    from risk import tasks

    monkeypatch.setattr(tasks.rescore, "delay", lambda run_id: sent.append(run_id))
    monkeypatch.setattr(tasks.process_batch, "delay", lambda batch_id: None)
    return sent


@pytest.fixture
def scored_people(make_user) -> list:
    people = [make_user() for _ in range(3)]
    for person in people:
        UserRisk.objects.create(user=person, level=Level.UNSCORED)
    return people


def _running(*, lease_in: timedelta | None, started: timedelta = timedelta(hours=1), **fields) -> RescoreRun:
    now = timezone.now()
    return RescoreRun.objects.create(
        status=RescoreRun.Status.RUNNING, created_at=now - started, started_at=now - started,
        lease_owner="other-worker", lease_expires_at=now + lease_in if lease_in is not None else None,
        chunks_total=10, chunks_done=6, users_scored=60000, **fields,
    )


def test_a_long_rescore_with_a_live_lease_is_not_requeued(requeued):
    run = _running(lease_in=timedelta(minutes=4))  # started an hour ago, still renewing
    assert services.requeue_stalled() == 0 and requeued == []
    run.refresh_from_db()
    assert (run.status, run.lease_owner, run.chunks_done) == (RescoreRun.Status.RUNNING, "other-worker", 6)


def test_a_rescore_whose_lease_ran_out_is_requeued_once(requeued):
    run = _running(lease_in=-timedelta(seconds=1))
    assert services.requeue_stalled() == 1 and requeued == [run.pk]
    run.refresh_from_db()
    assert run.status == RescoreRun.Status.QUEUED and run.lease_owner == ""
    assert services.requeue_stalled() == 0  # queued again a moment ago: not yet stalled
    RescoreRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert services.requeue_stalled() == 1 and requeued == [run.pk, run.pk]  # still nobody took it


def test_a_queued_rescore_nobody_picked_up_and_a_leaseless_old_run_are_requeued(requeued):
    old = timezone.now() - timedelta(minutes=20)
    queued = RescoreRun.objects.create(created_at=old)
    fresh = RescoreRun.objects.create()
    legacy = _running(lease_in=None)
    assert services.requeue_stalled() == 2 and sorted(requeued) == sorted([queued.pk, legacy.pk])
    fresh.refresh_from_db()
    assert fresh.status == RescoreRun.Status.QUEUED


def test_a_second_worker_that_finds_a_live_lease_does_nothing(scored_people):
    run = _running(lease_in=timedelta(minutes=4))
    again = services.rescore_run(run.pk, chunk_size=1)
    assert again is not None
    run.refresh_from_db()
    assert (run.status, run.lease_owner, run.chunks_total, run.chunks_done, run.users_scored) == (
        RescoreRun.Status.RUNNING, "other-worker", 10, 6, 60000)


def test_a_worker_renews_its_lease_with_each_chunk_and_releases_it_at_the_end(scored_people, monkeypatch):
    run = RescoreRun.objects.create()
    seen = []
    original = scoring.lock

    def lock(scope):
        current = RescoreRun.objects.get(pk=run.pk)
        seen.append((current.lease_owner, current.lease_expires_at))
        return original(scope)

    monkeypatch.setattr(scoring, "lock", lock)
    done = services.rescore_run(run.pk, chunk_size=1)
    assert done.status == RescoreRun.Status.DONE and done.chunks_done == done.chunks_total == 3
    assert done.users_scored == 3 and done.lease_expires_at is None
    owners = {owner for owner, _ in seen}
    assert len(owners) == 1 and "" not in owners
    expiries = [at for _, at in seen]
    assert expiries == sorted(expiries) and len(set(expiries)) == 3  # renewed after every chunk
    assert expiries[0] > timezone.now() + timedelta(seconds=200)


def test_an_expired_lease_is_taken_over_and_the_run_starts_over(scored_people):
    run = _running(lease_in=-timedelta(seconds=1))
    done = services.rescore_run(run.pk, chunk_size=1)
    assert done.status == RescoreRun.Status.DONE and (done.chunks_total, done.chunks_done) == (3, 3)
    assert done.lease_owner not in ("", "other-worker")


@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_lease_was_taken_over_stops_without_resetting_progress(scored_people, monkeypatch):
    run = RescoreRun.objects.create(requested_by_email="root@corp.example")
    original = scoring.lock
    calls = []

    def lock(scope):
        calls.append(scope)
        if len(calls) == 2:
            # Meanwhile, another worker (its own connection) took the run over and got further.
            other = connections.create_connection("default")
            try:
                with other.cursor() as cursor:
                    cursor.execute(
                        "UPDATE risk_rescorerun SET lease_owner = 'worker-b', chunks_done = 2, "
                        "users_scored = 2, lease_expires_at = %s WHERE id = %s",
                        [timezone.now() + timedelta(minutes=5), run.pk])
            finally:
                other.close()
        return original(scope)

    monkeypatch.setattr(scoring, "lock", lock)
    stopped = services.rescore_run(run.pk, chunk_size=1)
    assert len(calls) == 2  # stopped at its first renewal after the takeover
    assert (stopped.status, stopped.lease_owner, stopped.chunks_done, stopped.users_scored) == (
        RescoreRun.Status.RUNNING, "worker-b", 2, 2)
    assert stopped.finished_at is None and not stopped.message.startswith("Failed")
