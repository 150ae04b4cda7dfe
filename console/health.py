"""Health of the parts the console needs: database, broker, workers, scheduler."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu.transport import virtual

from console.celery import app
from console.core.models import Heartbeat


@dataclass
class Check:
    name: str
    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)
    note: str = ""  # what the details mean, in a sentence


def _stale_after() -> timedelta:
    # Two missed beats and some slack before we call a process gone.
    return timedelta(seconds=settings.HEARTBEAT_INTERVAL * 2 + 15)


def check_database() -> Check:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return Check("Database", False, f"Query failed: {exc.__class__.__name__}")
    elapsed = (time.perf_counter() - started) * 1000
    return Check("Database", True, f"{connection.vendor} answered in {elapsed:.1f} ms")


def _queue_line(queue: str, found: bool, waiting: int, consumers: int, counts_consumers: bool) -> str:
    """One queue in words. Brokers without real queues (Redis, the filesystem) drop a queue once it
    is empty and never count consumers, so for them "not declared" and "0 consumers" only mean idle."""
    if not found:
        if counts_consumers:
            return f"Queue {queue}: not declared yet (no worker consumes it and no task was sent to it)"
        return f"Queue {queue}: idle, nothing waiting"
    if waiting == 0:
        line = f"Queue {queue}: idle, nothing waiting"
    else:
        line = f"Queue {queue}: {waiting} waiting"
    if counts_consumers:
        line += f", {consumers} consumer(s) attached"
        if consumers == 0:
            line += " (no worker takes from it)"
    return line


IDLE_NOTE = ("An idle queue next to healthy workers is normal: workers take each task as it arrives, so nothing "
             "waiting means there is nothing to do right now.")
NO_CONSUMER_COUNT = "This broker does not count consumers; the Workers line shows which workers are alive."


def check_broker() -> Check:
    url = app.conf.broker_url or ""
    transport = url.split("://", 1)[0] or "unknown"
    started = time.perf_counter()
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            counts_consumers = not isinstance(conn.transport, virtual.Transport)
            detail, idle = [], True
            # Every queue a worker must consume (a backlog or a queue with no consumer shows here).
            queues = dict.fromkeys([settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_INGEST_QUEUE,
                                    settings.CELERY_SCORING_QUEUE])
            for queue in filter(None, queues):
                channel = conn.channel()  # one each: a failed passive declare closes an AMQP channel
                try:
                    _, waiting, consumers = channel.queue_declare(queue=queue, passive=True)
                    found = True
                except Exception:  # noqa: BLE001 - a queue nobody declared yet is not an error
                    found, waiting, consumers = False, 0, 0
                finally:
                    try:
                        channel.close()
                    except Exception:  # noqa: BLE001, S110 - already closed by the failed declare
                        pass
                idle = idle and not waiting
                detail.append(_queue_line(queue, found, waiting, consumers, counts_consumers))
    except Exception as exc:  # noqa: BLE001
        return Check("Broker", False, f"{transport}: cannot connect ({exc.__class__.__name__})")
    elapsed = (time.perf_counter() - started) * 1000
    notes = ([IDLE_NOTE] if idle else []) + ([] if counts_consumers else [NO_CONSUMER_COUNT])
    return Check("Broker", True, f"{transport} reachable in {elapsed:.1f} ms", detail, " ".join(notes))


def check_workers() -> Check:
    cutoff = timezone.now() - _stale_after()
    rows = list(Heartbeat.objects.filter(key__startswith="worker:"))
    alive = [r for r in rows if r.last_seen >= cutoff]
    details = [
        f"{r.key.removeprefix('worker:')}: last seen {timezone.localtime(r.last_seen):%Y-%m-%d %H:%M:%S}"
        + ("" if r.last_seen >= cutoff else " (stale)")
        for r in rows
    ]
    if alive:
        return Check("Workers", True, f"{len(alive)} worker(s) sent a heartbeat recently", details)
    if rows:
        return Check("Workers", False, "No worker has run a heartbeat recently", details)
    return Check("Workers", False, "No worker has ever run a heartbeat: start one", details)


def check_beat() -> Check:
    row = Heartbeat.objects.filter(key="beat").first()
    if row is None:
        return Check("Scheduler (beat)", False, "The scheduler has never sent a heartbeat: start it")
    seen = timezone.localtime(row.last_seen)
    if row.last_seen >= timezone.now() - _stale_after():
        return Check("Scheduler (beat)", True, f"Last heartbeat sent {seen:%H:%M:%S}",
                     [f"on {row.detail.get('hostname', '?')}"])
    return Check("Scheduler (beat)", False, f"Silent since {seen:%Y-%m-%d %H:%M:%S}")


def _gateway_line(row: Heartbeat, cutoff) -> str:
    d = row.detail or {}
    log = d.get("log") or {}
    line = (f"{row.key.removeprefix('gateway:')} on {d.get('listen', '?')}: policies version "
            f"{d.get('policies_version')}, {d.get('rate_per_second', 0)} requests/s, {d.get('requests', 0)} since "
            f"start, log queue {log.get('pending', 0)} (dropped {log.get('dropped', 0)}), fails "
            f"{d.get('fail_mode', '?')}")
    if row.last_seen < cutoff:
        line += f" (silent since {timezone.localtime(row.last_seen):%H:%M:%S})"
    return line


def check_gateways() -> Check:
    """Web gateways (``manage.py gateway``) that sent a heartbeat: each one's address, version of
    the policies, request rate and log queue. None at all is fine (the gateway is optional)."""
    cutoff = timezone.now() - timedelta(seconds=60)
    rows = list(Heartbeat.objects.filter(key__startswith="gateway:", last_seen__gte=timezone.now() - timedelta(days=1)))
    alive = [r for r in rows if r.last_seen >= cutoff]
    details = [_gateway_line(row, cutoff) for row in rows]
    if not rows:
        return Check("Web gateways", True, "No web gateway has run in the last day (manage.py gateway)")
    if not alive:
        return Check("Web gateways", False, "No web gateway has sent a heartbeat in the last minute", details)
    return Check("Web gateways", True, f"{len(alive)} gateway process(es) running", details)


def all_checks() -> list[Check]:
    return [check_database(), check_broker(), check_workers(), check_beat(), check_gateways()]
