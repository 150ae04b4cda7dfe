"""The Access authentication log as evidence: every answered decision is spooled to disk before
the answer, stored exactly once, and survives the database being away and its process being
killed (console/access/logbuffer.py)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import OperationalError, connection

from console.access import decisions, hotcache, logbuffer, policies, services
from console.access.models import AccessLogEntry

pytestmark = pytest.mark.django_db(transaction=True)  # the writer thread and subprocesses see commits

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _spooled(settings, tmp_path):
    logbuffer.stop()  # start from no spool of an earlier test
    settings.ACCESS_LOG_BUFFERED = True
    settings.ACCESS_LOG_SPOOL_DIR = tmp_path / "spool"
    settings.ACCESS_LOG_FLUSH_SECONDS = 0.05
    policies.clear_local_cache()
    hotcache.clear()
    yield
    logbuffer.stop()  # no writer thread outlives the test (it would hold the test database)
    policies.clear_local_cache()
    hotcache.clear()


@pytest.fixture
def wiki(make_engineers_wiki):
    return make_engineers_wiki(session_seconds=3600)[0]


@pytest.fixture
def api_token(super_admin):
    _, secret = services.api_token_create(actor=super_admin, name="edge proxy", scopes=["access:decide"])
    return secret


def call(client, token, body):
    return client.post("/api/v1/access/decide", data=json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {token}")


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        logbuffer._wake.set()  # skip the writer's backoff
        time.sleep(0.05)


def spooled_lines(root: Path) -> int:
    return sum(len(path.read_bytes().splitlines()) for path in root.glob("*/*.jsonl"))


@pytest.fixture
def database_down(monkeypatch):
    """The writer's inserts fail as with PostgreSQL unreachable, until ``.recover()``."""
    real_store = logbuffer._store

    class Outage:
        down = True

        def recover(self) -> None:
            self.down = False

    outage = Outage()

    def store(rows):
        if outage.down:
            raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')
        return real_store(rows)

    monkeypatch.setattr(logbuffer, "_store", store)
    return outage


def test_decisions_answered_while_the_database_is_down_are_stored_exactly_once_after(
    client, wiki, employee, make_user, api_token, database_down, settings,
):
    outsider = make_user(email="outsider@corp.example")
    answers = []
    for number in range(60):
        email = employee.email if number % 3 else outsider.email
        response = call(client, api_token, {"application": wiki.aud, "user": {"email": email}})
        assert response.status_code == 200
        answers.append(response.json()["decision"])
    time.sleep(0.5)  # several flushes fail meanwhile
    assert AccessLogEntry.objects.count() == 0
    assert spooled_lines(settings.ACCESS_LOG_SPOOL_DIR) == 60  # on disk, not only in memory
    assert logbuffer.stats()["backlog_bytes"] > 0

    database_down.recover()
    wait_for(lambda: AccessLogEntry.objects.count() >= 60 and not logbuffer.stats()["backlog_bytes"])
    logbuffer.flush()
    logbuffer.replay_orphans()
    rows = list(AccessLogEntry.objects.values_list("outcome", "uid"))
    assert len(rows) == 60
    assert len({uid for _, uid in rows}) == 60
    assert sorted(outcome for outcome, _ in rows) == sorted(answers)
    assert answers.count("allow") == 40
    assert spooled_lines(settings.ACCESS_LOG_SPOOL_DIR) == 0  # truncated once stored


def test_past_the_spool_cap_decisions_still_answer_and_the_loss_is_counted_loudly(
    client, wiki, employee, api_token, database_down, settings, caplog,
):
    settings.ACCESS_LOG_SPOOL_MAX_BYTES = 3000  # a handful of entries
    for _ in range(30):
        assert call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email}}).json()[
            "decision"] == "allow"
    dropped = logbuffer.stats()["dropped"]
    assert 0 < dropped < 30
    with caplog.at_level(logging.ERROR, logger="console.access.logbuffer"):
        wait_for(lambda: "ACCESS LOG ENTRIES LOST" in caplog.text)
    database_down.recover()
    wait_for(lambda: AccessLogEntry.objects.count() == 30 - dropped and not logbuffer.stats()["backlog_bytes"])


def test_an_internal_error_denial_is_logged(client, wiki, employee, api_token, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr(decisions, "decide", broken)
    body = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email},
                                    "ip": "203.0.113.9"}).json()
    assert body["decision"] == "deny"
    assert logbuffer.flush() == 1
    entry = AccessLogEntry.objects.get()
    assert entry.outcome == "deny"
    assert entry.reason == f"internal error (reference {body['request_id']})"
    assert (entry.application_id, entry.email, entry.ip, entry.source) == (
        wiki.pk, employee.email, "203.0.113.9", "api")


def test_a_denial_that_failed_before_the_body_was_read_is_logged_with_who_and_where(
    client, wiki, employee, api_token, monkeypatch,
):
    """The token check needs the database: when it fails the answer is a fail-closed denial, and
    its log entry still names the person, the address and the application from the body."""
    def unreachable(*args, **kwargs):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    monkeypatch.setattr(hotcache, "ensure_fresh", unreachable)
    body = call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email},
                                    "ip": "203.0.113.10"}).json()
    assert body["decision"] == "deny" and "internal error" in body["reason"]
    assert logbuffer.flush() == 1
    entry = AccessLogEntry.objects.get()
    assert entry.reason == f"internal error (reference {body['request_id']})"
    assert (entry.application_id, entry.email, entry.ip) == (wiki.pk, employee.email, "203.0.113.10")


def test_an_internal_error_denial_is_logged_without_the_spool(client, wiki, api_token, monkeypatch, settings):
    settings.ACCESS_LOG_BUFFERED = False
    monkeypatch.setattr(decisions, "decide", lambda **kwargs: 1 / 0)
    body = call(client, api_token, {"application": wiki.aud, "user": {"email": "x@corp.example"}}).json()
    assert body["decision"] == "deny"
    assert AccessLogEntry.objects.get().reason.startswith("internal error (reference ")


def test_an_unknown_service_token_denial_is_logged(client, wiki, api_token):
    body = call(client, api_token, {"application": wiki.aud,
                                    "service_token": {"client_id": "nope.access", "client_secret": "x"}}).json()
    assert body["decision"] == "deny"
    logbuffer.flush()
    entry = AccessLogEntry.objects.get()
    assert (entry.outcome, entry.email, entry.application_id) == ("deny", "service token nope.access", wiki.pk)


CHILD = """
import os, sys, time
import django
django.setup()
from django.conf import settings
settings.ACCESS_LOG_BUFFERED = True
settings.ACCESS_LOG_SPOOL_DIR = sys.argv[1]
settings.ACCESS_LOG_FLUSH_SECONDS = 3600.0  # nothing is stored before the kill
from console.access import decisions
from console.access.models import Application
app = Application.objects.get(pk=int(sys.argv[2]))
for _ in range(int(sys.argv[4])):
    outcome = decisions.decide(application=app, source="api", issuer="http://testserver", email=sys.argv[3])
    assert outcome.outcome == "allow"
print("answered", flush=True)
time.sleep(600)
"""


def test_a_killed_process_leaves_a_spool_that_is_stored_once_however_often_it_is_replayed(
    wiki, employee, settings, tmp_path,
):
    spool = settings.ACCESS_LOG_SPOOL_DIR
    db = connection.settings_dict
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "console.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(spool), str(wiki.pk), employee.email, "200"],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = child.stdout.readline()
        assert line == b"answered\n", child.stderr.read().decode()[-3000:]
        assert logbuffer.replay_orphans() == 0  # a live process's spool is its own
        assert AccessLogEntry.objects.count() == 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert spooled_lines(spool) == 200
    kept = tmp_path / "kept"
    shutil.copytree(spool, kept)

    assert logbuffer.replay_orphans() == 200
    assert AccessLogEntry.objects.count() == 200
    assert not any(spool.iterdir())

    # A crash after the insert committed but before the spool was removed: replayed again.
    shutil.rmtree(spool)
    shutil.copytree(kept, spool)
    logbuffer.replay_orphans()
    logbuffer.replay_orphans()
    assert AccessLogEntry.objects.count() == 200
    assert AccessLogEntry.objects.filter(outcome="allow", email=employee.email).count() == 200
    assert AccessLogEntry.objects.values("uid").distinct().count() == 200


def test_a_new_process_replays_dead_spools_when_its_writer_starts(client, wiki, employee, api_token, settings,
                                                                   tmp_path):
    dead = settings.ACCESS_LOG_SPOOL_DIR / "999999-deadbeef"
    dead.mkdir(parents=True)
    (dead / logbuffer.LOCK_NAME).touch()
    entry = {"at": "2026-01-02T03:04:05+00:00", "user_id": None, "email": "gone@corp.example",
             "application_id": wiki.pk, "application_name": "Wiki", "outcome": "deny", "policy_id": None,
             "policy_name": "", "reason": "Denied.", "challenge": [], "ip": None, "country": "",
             "method": "", "source": "api", "session_id": None, "uid": "6f1c1f35-34b7-4cde-9a9c-3c1f0f7e6c10"}
    (dead / "00000001.jsonl").write_text(json.dumps(entry) + "\n" + '{"at": "2026-01-02T03:0')  # torn last line
    assert call(client, api_token, {"application": wiki.aud, "user": {"email": employee.email}}).status_code == 200
    wait_for(lambda: AccessLogEntry.objects.count() == 2)
    assert AccessLogEntry.objects.filter(email="gone@corp.example").exists()
    assert not dead.exists()


def test_the_periodic_task_stores_dead_spools(wiki, settings):
    from console.access import tasks
    from console.celery import collect_beat_schedule

    assert {"task": "console.access.tasks.replay_access_log_spools"}.items() <= collect_beat_schedule()[
        "access-replay-log-spools"].items()
    dead = settings.ACCESS_LOG_SPOOL_DIR / "999998-feedface"
    dead.mkdir(parents=True)
    (dead / logbuffer.LOCK_NAME).touch()
    entry = {"at": "2026-01-02T03:04:05+00:00", "email": "gone@corp.example", "application_id": wiki.pk,
             "application_name": "Wiki", "outcome": "allow", "reason": "Allowed.", "source": "api",
             "uid": "0b0f5a4e-9c7e-4a53-9d0e-2a1e8e3c2f11"}
    (dead / "00000003.jsonl").write_text(json.dumps(entry) + "\n")
    tasks.replay_access_log_spools()
    tasks.replay_access_log_spools()
    assert AccessLogEntry.objects.get().email == "gone@corp.example"
    assert not dead.exists()


def test_an_entry_the_database_refuses_is_set_aside_and_never_holds_up_the_others(wiki, settings):
    dead = settings.ACCESS_LOG_SPOOL_DIR / "999997-0badc0de"
    dead.mkdir(parents=True)
    (dead / logbuffer.LOCK_NAME).touch()
    good = {"at": "2026-01-02T03:04:05+00:00", "email": "a@corp.example", "outcome": "deny", "source": "api",
            "uid": "1b0f5a4e-9c7e-4a53-9d0e-2a1e8e3c2f11"}
    bad = good | {"country": "DEU", "uid": "2b0f5a4e-9c7e-4a53-9d0e-2a1e8e3c2f11"}  # longer than the column
    later = good | {"uid": "3b0f5a4e-9c7e-4a53-9d0e-2a1e8e3c2f11"}
    (dead / "00000001.jsonl").write_text("".join(json.dumps(row) + "\n" for row in (good, bad, later)))
    assert logbuffer.replay_orphans() == 2
    assert AccessLogEntry.objects.count() == 2
    rejected = (settings.ACCESS_LOG_SPOOL_DIR / "rejected.jsonl").read_text().splitlines()
    assert [json.loads(line)["entry"]["uid"] for line in rejected] == [bad["uid"]]
    assert not dead.exists()
