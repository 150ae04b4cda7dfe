"""A full rescore is claimed with a lease (``console.core.jobs``) that a heartbeat renews however
long a chunk takes: a rescore that runs long is never run twice, a run whose worker died is taken
over from its checkpoint, and a worker whose lease was taken over stops without touching the run."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from risk import scoring
from risk.models import Level, RescoreRun, UserRisk
from risk.services import configuration, queueing, scores

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
    assert queueing.requeue_stalled() == 0 and requeued == []
    run.refresh_from_db()
    assert (run.status, run.lease_owner, run.chunks_done) == (RescoreRun.Status.RUNNING, "other-worker", 6)


def test_a_rescore_whose_lease_ran_out_is_requeued_once(requeued):
    run = _running(lease_in=-timedelta(seconds=1))
    assert queueing.requeue_stalled() == 1 and requeued == [run.pk]
    run.refresh_from_db()
    # Queued for a new worker; the dead owner stays on record until one takes the run over.
    assert run.status == RescoreRun.Status.QUEUED and run.lease_owner == "other-worker"
    assert queueing.requeue_stalled() == 0  # queued again a moment ago: not yet stalled
    RescoreRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert queueing.requeue_stalled() == 1 and requeued == [run.pk, run.pk]  # still nobody took it


def test_a_queued_rescore_nobody_picked_up_and_a_leaseless_old_run_are_requeued(requeued):
    old = timezone.now() - timedelta(minutes=20)
    queued = RescoreRun.objects.create(created_at=old)
    fresh = RescoreRun.objects.create()
    legacy = _running(lease_in=None)
    assert queueing.requeue_stalled() == 2 and sorted(requeued) == sorted([queued.pk, legacy.pk])
    fresh.refresh_from_db()
    assert fresh.status == RescoreRun.Status.QUEUED


def test_a_second_worker_that_finds_a_live_lease_does_nothing(scored_people):
    run = _running(lease_in=timedelta(minutes=4))
    again = scores.rescore_run(run.pk, chunk_size=1)
    assert again is not None
    run.refresh_from_db()
    assert (run.status, run.lease_owner, run.chunks_total, run.chunks_done, run.users_scored) == (
        RescoreRun.Status.RUNNING, "other-worker", 10, 6, 60000)


def test_a_worker_holds_its_lease_through_every_chunk_and_releases_it_at_the_end(scored_people, monkeypatch,
                                                                                   settings):
    settings.JOB_LEASE_SECONDS = 60
    run = RescoreRun.objects.create()
    seen = []
    original = scoring.lock

    def lock(scope):
        current = RescoreRun.objects.get(pk=run.pk)
        seen.append((current.lease_owner, current.lease_expires_at, current.scored_through))
        return original(scope)

    monkeypatch.setattr(scoring, "lock", lock)
    done = scores.rescore_run(run.pk, chunk_size=1)
    assert done.status == RescoreRun.Status.DONE and done.chunks_done == done.chunks_total == 3
    assert done.users_scored == 3 and done.lease_expires_at is None
    owners = {owner for owner, _, _ in seen}
    assert len(owners) == 1 and "" not in owners and done.lease_owner in owners  # who finished it
    assert all(at > timezone.now() + timedelta(seconds=50) for _, at, _ in seen)
    ids = sorted(p.pk for p in scored_people)
    assert [through for _, _, through in seen] == [0, ids[0], ids[1]]  # the checkpoint after each chunk
    assert done.scored_through == ids[2]


def test_an_expired_lease_is_taken_over_and_a_run_without_checkpoint_starts_over(scored_people):
    run = _running(lease_in=-timedelta(seconds=1))
    done = scores.rescore_run(run.pk, chunk_size=1)
    assert done.status == RescoreRun.Status.DONE and (done.chunks_total, done.chunks_done) == (3, 3)
    assert done.lease_owner not in ("", "other-worker")


def test_a_run_taken_over_resumes_after_its_checkpoint_and_counts_each_change_once(scored_people, monkeypatch):
    ids = sorted(p.pk for p in scored_people)
    # The dead worker committed the first chunk: one person scored, one change counted.
    run = _running(lease_in=-timedelta(seconds=1), scored_through=ids[0])
    RescoreRun.objects.filter(pk=run.pk).update(chunks_total=3, chunks_done=1, users_scored=1, users_changed=1)
    scopes = []
    original = scoring.lock
    monkeypatch.setattr(scoring, "lock", lambda scope: scopes.append((scope.low, scope.high)) or original(scope))
    done = scores.rescore_run(run.pk, chunk_size=1)
    assert scopes == [(ids[1], ids[1]), (ids[2], ids[2])]  # nobody the first worker scored, again
    assert (done.status, done.chunks_done, done.chunks_total, done.users_scored) == (
        RescoreRun.Status.DONE, 3, 3, 3)
    assert done.users_changed == 1  # the other two were Unscored and stay so: nothing new counted


@pytest.mark.django_db(transaction=True)
def test_a_slow_chunk_keeps_its_lease_through_the_heartbeat(scored_people, monkeypatch, settings, requeued):
    settings.JOB_LEASE_SECONDS = 3  # the heartbeat renews every second
    run = RescoreRun.objects.create()
    original = scoring.lock
    during: list = []

    def slow_lock(scope):
        # This chunk takes longer than a whole lease: wait until the heartbeat renewed it past
        # the expiry the claim set, and past that again.
        first = RescoreRun.objects.get(pk=run.pk).lease_expires_at
        seen = {first}
        deadline = timezone.now() + timedelta(seconds=30)
        while len(seen) < 4:
            assert timezone.now() < deadline, "the heartbeat never renewed the lease"
            seen.add(RescoreRun.objects.get(pk=run.pk).lease_expires_at)
            time.sleep(0.05)
        during.append((sorted(seen), queueing.requeue_stalled()))
        return original(scope)

    monkeypatch.setattr(scoring, "lock", slow_lock)
    done = scores.rescore_run(run.pk, chunk_size=3)
    [(expiries, swept)] = during
    assert expiries[-1] - expiries[0] >= timedelta(seconds=2)  # renewed, not just re-read
    assert swept == 0 and requeued == []  # the sweep never takes a live lease
    assert done.status == RescoreRun.Status.DONE and (done.chunks_done, done.users_scored) == (1, 3)


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
    stopped = scores.rescore_run(run.pk, chunk_size=1)
    assert len(calls) == 2  # stopped at its first renewal after the takeover
    assert (stopped.status, stopped.lease_owner, stopped.chunks_done, stopped.users_scored) == (
        RescoreRun.Status.RUNNING, "worker-b", 2, 2)
    assert stopped.finished_at is None and not stopped.message.startswith("Failed")


def _people_with_events(count: int) -> list[int]:
    """``count`` scored people (Unscored now), each with a High event a rescore will count."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import User
    from risk.models import BehaviourConfig, RiskEvent

    configuration.ensure_configs()
    BehaviourConfig.objects.filter(key="malicious_file").update(enabled=True, level=Level.HIGH)
    users = User.objects.bulk_create([
        User(email=f"takeover{i}@corp.example", full_name=f"Person {i}", password=make_password(None))
        for i in range(count)
    ], batch_size=2000)
    ids = [u.pk for u in users]
    UserRisk.objects.bulk_create([UserRisk(user_id=pk, level=Level.UNSCORED) for pk in ids], batch_size=2000)
    now = timezone.now()
    RiskEvent.objects.bulk_create([
        RiskEvent(user_id=pk, behaviour="malicious_file", level=Level.HIGH, at=now - timedelta(hours=1),
                  source_kind="gateway_http", source_id=n, summary="Malware blocked", dedupe_key=f"takeover:{n}")
        for n, pk in enumerate(ids)
    ], batch_size=2000)
    return ids


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_rescore_is_taken_over_by_another_through_the_sweep(celery_workers):
    """SIGKILL while rescoring: nobody holds the run until its lease runs out; the stall sweep
    then sends it to a second worker, which takes the lease over and resumes after the last
    committed chunk. Everyone ends scored, and each change is recorded and counted once."""
    import signal
    import socket

    from risk import tasks
    from risk.models import RiskLevelChange

    people = _people_with_events(6000)
    # A short lease so the test need not wait a minute.
    env = {"JOB_LEASE_SECONDS": "6", "RISK_RESCORE_CHUNK": "100"}
    first = celery_workers.start(**env)
    run = RescoreRun.objects.create(message=RiskLevelChange.Cause.RESCORE)
    tasks.rescore.delay(run.pk)
    deadline = time.monotonic() + 60
    while RescoreRun.objects.get(pk=run.pk).chunks_done < 2:
        assert time.monotonic() < deadline, "the first worker never started the rescore"
        time.sleep(0.01)
    first["process"].send_signal(signal.SIGKILL)
    first["process"].wait()
    killed = RescoreRun.objects.get(pk=run.pk)
    assert killed.status == RescoreRun.Status.RUNNING and killed.chunks_done < killed.chunks_total, \
        "the rescore finished before the worker could be killed"
    dead_owner = killed.lease_owner
    assert dead_owner.startswith(f"{socket.gethostname()[:60]}:{first['pid']}:")

    # Redis may hand the killed worker's unacknowledged task back to its queue (any worker on
    # this Redis restores old unacked tasks): the second worker reads a queue of its own, so it
    # gets the job only from the sweep.
    from console.celery import app

    app.conf.task_default_queue = f"{first['queue']}-b"  # the fixture puts it back
    second = celery_workers.start(queue=app.conf.task_default_queue, **env)
    swept = 0
    deadline = time.monotonic() + 120
    while RescoreRun.objects.get(pk=run.pk).status != RescoreRun.Status.DONE:
        assert time.monotonic() < deadline, "the rescore was never taken over and finished"
        swept += queueing.requeue_stalled()  # what beat sends every 10 s
        time.sleep(0.2)
    done = RescoreRun.objects.get(pk=run.pk)
    assert swept >= 1  # it went on through the sweep, not through the broker
    assert done.lease_owner.startswith(f"{socket.gethostname()[:60]}:{second['pid']}:")
    assert (done.chunks_done, done.chunks_total) == (60, 60) and done.scored_through == max(people)
    # Every person scored, each change recorded once and counted once.
    assert set(UserRisk.objects.filter(user_id__in=people).values_list("level", flat=True)) == {Level.HIGH}
    changes = RiskLevelChange.objects.filter(cause=RiskLevelChange.Cause.RESCORE, user_id__in=people)
    assert changes.count() == len(people) == done.users_changed == done.users_scored
    assert changes.values("user_id").distinct().count() == len(people)
