"""The health page explains what the broker's queues mean next to the workers: an empty queue on
Redis is idle, not "not declared" with "0 consumers" (Redis counts neither)."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from console.core.models import Heartbeat
from console.health import _queue_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def queues(settings):
    names = [f"health-{uuid.uuid4().hex[:8]}-{n}" for n in ("default", "ingest", "scoring")]
    settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_INGEST_QUEUE, settings.CELERY_SCORING_QUEUE = names
    yield names
    from console.celery import app

    with app.connection_for_write() as conn:
        for name in names:
            conn.default_channel.queue_purge(name)


@pytest.fixture
def healthy_worker() -> None:
    Heartbeat.objects.create(key="worker:celery@host-1", last_seen=timezone.now())


def _broker_row(text: str) -> str:
    start = text.index("<td>Broker</td>")
    return text[start:text.index("</tr>", start)]


def test_idle_queues_next_to_healthy_workers_are_explained(client_for, auditor, queues, healthy_worker):
    text = client_for(auditor).get("/system/health/").content.decode()
    row = _broker_row(text)
    for name in queues:
        assert f"Queue {name}: idle, nothing waiting" in row
    assert "not been declared" not in row and "consumer(s) attached" not in row
    assert "An idle queue next to healthy workers is normal" in row
    assert "does not count consumers; the Workers line shows which workers are alive" in row
    assert "1 worker(s) sent a heartbeat recently" in text


def test_a_waiting_task_is_counted_and_the_idle_note_goes(client_for, auditor, queues, healthy_worker):
    from console.celery import app

    with app.connection_for_write() as conn:
        waiting = conn.SimpleQueue(queues[1])
        waiting.put({"task": "nothing"})
        waiting.close()
    row = _broker_row(client_for(auditor).get("/system/health/").content.decode())
    assert f"Queue {queues[1]}: 1 waiting" in row
    assert f"Queue {queues[0]}: idle, nothing waiting" in row
    assert "An idle queue next to healthy workers is normal" not in row


def test_brokers_that_count_consumers_say_when_nobody_takes_from_a_queue():
    assert _queue_line("default", True, 0, 2, True) == "Queue default: idle, nothing waiting, 2 consumer(s) attached"
    assert _queue_line("scoring", True, 5, 0, True) == (
        "Queue scoring: 5 waiting, 0 consumer(s) attached (no worker takes from it)")
    assert _queue_line("ingest", False, 0, 0, True) == (
        "Queue ingest: not declared yet (no worker consumes it and no task was sent to it)")
