"""The Access authentication log: spooled to disk before each answer, stored in batches.

An access log is evidence, so an answered decision must not vanish with its process or while
the database is away:

* ``record()`` appends the entry, as one JSON line with its own ``uid``, to this process's spool
  (``ACCESS_LOG_SPOOL_DIR/<pid>-<random>/NNNNNNNN.jsonl``) with one ``write()`` *before* the answer
  goes out. Once ``write()`` returns the line is in the kernel: killing the process (SIGKILL, OOM,
  a worker restart) loses nothing. A host crash or power cut loses what was not yet fsynced: the
  writer thread fsyncs at every flush (``ACCESS_LOG_FLUSH_SECONDS``), or every entry with
  ``ACCESS_LOG_SPOOL_FSYNC_EACH``.
* A writer thread moves the spool into PostgreSQL every ``ACCESS_LOG_FLUSH_SECONDS`` (sooner once
  ``BATCH`` entries wait): it closes the current segment, starts a new one, stores the closed
  segment (``COPY`` into a temporary table, then ``INSERT … ON CONFLICT (uid) DO NOTHING``) and
  deletes the segment only after the commit. A crash between the commit and the delete stores the
  segment again later, and the ``uid`` makes that a no-op: every entry is stored exactly once.
* While the database is down the thread retries with backoff (up to ``MAX_BACKOFF_SECONDS``) and
  the spool grows, up to ``ACCESS_LOG_SPOOL_MAX_BYTES`` per process. Past that, decisions are
  still answered but their entries are dropped: counted (``stats()``) and logged at ERROR.
* Each process holds an exclusive ``flock`` on its spool directory's ``owner.lock`` for its whole
  life; the kernel releases it when the process dies, however it dies. The writer thread (at start
  and every ``REPLAY_SECONDS``), process exit and the ``access.tasks.replay_access_log_spools``
  task store the spools whose lock can be taken: those of dead processes.

With ``ACCESS_LOG_BUFFERED=false`` each entry is inserted before the answer instead (tests, tiny
setups): the decision then fails (closed) when the database does."""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import psycopg
from django.conf import settings
from django.db import DataError, IntegrityError, close_old_connections, connection, transaction
from django.utils.dateparse import parse_datetime

from console.access import hotcache
from console.access.models import AccessLogEntry

# What the database says about an entry itself (COPY raises psycopg's own errors), as opposed to
# being unreachable: such an entry is set aside, never retried forever.
REFUSED = (IntegrityError, DataError, psycopg.IntegrityError, psycopg.DataError)
log = logging.getLogger(__name__)
BATCH = 500  # entries per insert; also wakes the writer early
REPLAY_SECONDS = 30.0  # how often the writer looks for spools of dead processes
MAX_BACKOFF_SECONDS = 30.0
LOCK_NAME = "owner.lock"

COLUMNS = (
    "at", "user_id", "email", "application_id", "application_name", "outcome", "policy_id", "policy_name",
    "reason", "challenge", "ip", "country", "method", "mfa_method", "source", "session_id", "uid",
)
TEXT_COLUMNS = ("email", "application_name", "outcome", "policy_name", "reason", "country", "method", "mfa_method",
                "source")


class _Spool:
    """This process's spool directory: the open segment, the closed ones waiting, the counters."""

    def __init__(self) -> None:
        self.pid = 0
        self.directory: Path | None = None
        self.lock_fd = -1
        self.fd = -1
        self.segment = 0
        self.segment_bytes = 0  # written to the open segment
        self.segment_entries = 0
        self.waiting: list[Path] = []  # closed segments not yet stored, oldest first
        self.waiting_bytes = 0
        self.unsynced = False
        self.dropped = 0  # entries answered but not spooled (spool full or unwritable)
        self.dropped_reported = 0
        self.stored = 0

    @property
    def backlog_bytes(self) -> int:
        return self.segment_bytes + self.waiting_bytes


_lock = threading.Lock()  # guards _spool and the open segment
_flush_lock = threading.Lock()  # one store at a time (writer thread, stop(), tests)
_spool = _Spool()
_wake = threading.Event()
_stop = threading.Event()
_thread: threading.Thread | None = None


def record(entry: SimpleNamespace) -> None:
    """Log one answered decision. ``entry`` holds the fields of an ``AccessLogEntry``. With the
    spool on, this never raises: an entry that cannot be spooled is counted as lost and logged."""
    if getattr(entry, "uid", None) is None:
        entry.uid = uuid.uuid4()
    config = hotcache.config()
    if not config.buffered:
        AccessLogEntry.objects.create(**vars(entry))
        return
    line = _line(entry)
    wake = False
    with _lock:
        try:
            _ensure_open()
            if _spool.backlog_bytes + len(line) > config.spool_max_bytes:
                _spool.dropped += 1
            else:
                os.write(_spool.fd, line)
                _spool.segment_bytes += len(line)
                _spool.segment_entries += 1
                _spool.unsynced = True
                if config.spool_fsync_each:
                    os.fsync(_spool.fd)
                    _spool.unsynced = False
                wake = _spool.segment_entries == BATCH  # once per segment: no storm while the database is down
        except OSError:
            _spool.dropped += 1
            if _spool.dropped == _spool.dropped_reported + 1:  # the first of a run; the writer counts the rest
                log.exception("could not spool an access log entry (counted as lost)")
    _start()
    if wake:
        _wake.set()


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode  # built once: cheaper per call


def _line(entry: SimpleNamespace) -> bytes:
    row = {name: getattr(entry, name, None) for name in COLUMNS}
    if isinstance(row["at"], datetime):
        row["at"] = row["at"].isoformat()
    return (_encode(row) + "\n").encode()  # UUIDs (uid, session_id) become strings through default


def _ensure_open() -> None:
    """Open this process's spool directory (again after a fork) and its current segment."""
    if _spool.pid == os.getpid() and _spool.fd >= 0:
        return
    if _spool.pid != os.getpid():  # the first entry of this process
        root = Path(settings.ACCESS_LOG_SPOOL_DIR)
        directory = root / f"{os.getpid()}-{secrets.token_hex(4)}"
        directory.mkdir(mode=0o700, parents=True, exist_ok=False)
        lock_fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        dropped, reported = _spool.dropped, _spool.dropped_reported
        _spool.__init__()
        _spool.pid, _spool.directory, _spool.lock_fd = os.getpid(), directory, lock_fd
        _spool.dropped, _spool.dropped_reported = dropped, reported
    _spool.segment += 1
    path = _spool.directory / f"{_spool.segment:08d}.jsonl"
    _spool.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    _spool.segment_bytes = _spool.segment_entries = 0


def _rotate() -> None:
    """Close the open segment (fsynced) and queue it for storing; the next entry opens a new one."""
    with _lock:
        if _spool.pid != os.getpid() or _spool.fd < 0 or not _spool.segment_entries:
            return
        os.fsync(_spool.fd)
        os.close(_spool.fd)
        _spool.waiting.append(_spool.directory / f"{_spool.segment:08d}.jsonl")
        _spool.waiting_bytes += _spool.segment_bytes
        _spool.fd, _spool.segment_bytes, _spool.segment_entries, _spool.unsynced = -1, 0, 0, False


def _sync() -> None:
    with _lock:
        if _spool.pid == os.getpid() and _spool.fd >= 0 and _spool.unsynced:
            os.fsync(_spool.fd)
            _spool.unsynced = False


def flush() -> int:
    """Store everything this process has spooled; returns how many entries were stored (0 also
    when the database refused: the spool keeps them for the next try). Raises nothing."""
    try:
        return _flush()
    except Exception:  # the database is down: keep the spool, say so, try again later
        log.warning("could not store the access log spool yet (%d bytes waiting); will retry",
                    _spool.backlog_bytes, exc_info=True)
        return 0


def _flush() -> int:
    with _flush_lock:
        _report_drops()
        if not _spool.waiting:
            _rotate()
        stored = 0
        while _spool.waiting:
            path = _spool.waiting[0]
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # removed by hand: nothing left to store
                with _lock:
                    _spool.waiting.pop(0)
                    _spool.waiting_bytes = sum(p.stat().st_size for p in _spool.waiting if p.exists())
                continue
            stored += _store_file(path)
            path.unlink()
            with _lock:
                _spool.waiting.pop(0)
                _spool.waiting_bytes -= size
        _spool.stored += stored
        return stored


def _report_drops() -> None:
    lost = _spool.dropped - _spool.dropped_reported
    if lost:
        _spool.dropped_reported = _spool.dropped
        log.error(
            "ACCESS LOG ENTRIES LOST: %d answered decisions were not logged by process %d (spool past "
            "ACCESS_LOG_SPOOL_MAX_BYTES=%d or unwritable; %d lost in all)",
            lost, os.getpid(), settings.ACCESS_LOG_SPOOL_MAX_BYTES, _spool.dropped,
        )


def _read(path: Path) -> Iterator[dict]:
    """The entries of a segment. A last line cut short (a write torn by a host crash) is skipped."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                row = json.loads(raw)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                log.error("skipping an unreadable access log spool line (%s line %d)", path, number)
                continue
            for name in TEXT_COLUMNS:  # blank, never NULL, as the model has them
                row[name] = row.get(name) or ""
            yield row


def _chunks(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _store_file(path: Path) -> int:
    """Store a segment, ``BATCH * 10`` entries per transaction; entries already stored are
    skipped. An entry the database refuses for itself (not for being down) is set aside in
    ``rejected.jsonl`` next to the spools, so one bad line never holds up the rest."""
    close_old_connections()
    count = 0
    for chunk in _chunks(_read(path), BATCH * 10):
        try:
            _store(chunk)
        except REFUSED:
            for row in chunk:
                try:
                    _store([row])
                except REFUSED as exc:
                    _reject(path, row, exc)
                    continue
                count += 1
        else:
            count += len(chunk)
    return count


def _reject(path: Path, row: dict, exc: Exception) -> None:
    log.error("the database refused an access log entry from %s; kept in rejected.jsonl: %s", path, exc)
    with (path.parent.parent / "rejected.jsonl").open("a") as rejected:
        rejected.write(json.dumps({"entry": row, "error": str(exc)[:500]}, default=str) + "\n")


def _store(rows: list[dict]) -> None:
    if connection.vendor != "postgresql":
        entries = []
        for row in rows:
            fields = dict(row)
            fields["at"] = parse_datetime(fields["at"]) if fields.get("at") else None
            entries.append(AccessLogEntry(**fields))
        AccessLogEntry.objects.bulk_create(entries, batch_size=BATCH, ignore_conflicts=True)
        return
    # COPY is an order of magnitude cheaper per row than INSERT; the temporary table lets the
    # rows meet the unique uid with ON CONFLICT, which COPY alone cannot. Table and column names
    # are this module's constants, never input.
    table = AccessLogEntry._meta.db_table
    columns = ", ".join(COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE access_log_incoming ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        raw = cursor.cursor  # psycopg's own cursor
        with raw.copy(f"COPY access_log_incoming ({columns}) FROM STDIN") as copy:
            for row in rows:
                values = [row.get(name) for name in COLUMNS]
                values[9] = json.dumps(values[9] if values[9] is not None else [])
                copy.write_row(values)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM access_log_incoming "  # noqa: S608
            f"ON CONFLICT (uid) DO NOTHING"
        )


def replay_orphans() -> int:
    """Store the spools of processes that are gone (their lock is free); returns how many entries
    were stored (entries stored before are not counted twice in the table, only here)."""
    root = Path(settings.ACCESS_LOG_SPOOL_DIR)
    if not root.is_dir():
        return 0
    stored = 0
    for directory in sorted(root.iterdir()):
        if not directory.is_dir() or directory == _spool.directory:
            continue
        try:
            stored += _replay(directory)
        except FileNotFoundError:  # another process replayed it meanwhile
            continue
    return stored


def _replay(directory: Path) -> int:
    lock_path = directory / LOCK_NAME
    try:
        lock_fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        # No lock file: a directory whose owner died while creating or removing it (nothing in it).
        if not any(path.stat().st_size for path in directory.glob("*.jsonl")):
            shutil.rmtree(directory, ignore_errors=True)
        return 0
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its process is alive and stores its own spool
        if not lock_path.exists():
            return 0  # replayed and removed while we waited for the lock
        close_old_connections()
        stored = 0
        for segment in sorted(directory.glob("*.jsonl")):
            stored += _store_file(segment)
            segment.unlink()
        lock_path.unlink()
        directory.rmdir()
        if stored:
            log.warning("stored %d access log entries left in the spool of a process that died (%s)",
                        stored, directory.name)
        return stored
    finally:
        os.close(lock_fd)


def replay_orphans_quietly() -> int:
    try:
        return replay_orphans()
    except Exception:
        log.warning("could not store the spools of dead processes yet; will retry", exc_info=True)
        return 0


def stats() -> dict[str, int]:
    """This process's spool: bytes waiting, entries stored, entries lost."""
    return {"backlog_bytes": _spool.backlog_bytes, "stored": _spool.stored, "dropped": _spool.dropped}


def _run() -> None:
    interval = settings.ACCESS_LOG_FLUSH_SECONDS
    backoff, retry_at, next_replay = 0.0, 0.0, 0.0
    try:
        while not _stop.is_set():
            if time.monotonic() >= next_replay:
                replay_orphans_quietly()
                next_replay = time.monotonic() + REPLAY_SECONDS
            woken = _wake.wait(timeout=interval)
            _wake.clear()
            try:
                _sync()  # every interval, even while the database is down: the host may crash too
            except OSError:
                log.exception("could not fsync the access log spool")
            if not (_spool.segment_entries or _spool.waiting or _spool.dropped > _spool.dropped_reported):
                continue  # touch the database only when there is something to write
            if time.monotonic() < retry_at and not woken:
                continue  # backing off while the database is down
            try:
                _flush()
            except Exception:
                backoff = min(max(backoff * 2, interval, 0.1), MAX_BACKOFF_SECONDS)
                retry_at = time.monotonic() + backoff
                log.warning("could not store the access log spool (%d bytes waiting); retrying in %.1f s",
                            _spool.backlog_bytes, backoff, exc_info=True)
                connection.close()  # a broken connection is not reused
            else:
                backoff, retry_at = 0.0, 0.0
    finally:
        connection.close()  # this thread's own connection


def stop() -> None:
    """Store what is waiting and end the writer thread (process shutdown, tests). If the database
    cannot take it, the spool stays on disk for the next process to store."""
    global _thread
    thread = _thread
    if thread is not None and thread.is_alive():
        _stop.set()
        _wake.set()
        thread.join(timeout=10)
    _stop.clear()
    _thread = None
    if _spool.pid != os.getpid():
        return
    flush()
    with _lock:
        if _spool.fd >= 0:
            os.close(_spool.fd)
        if not (_spool.backlog_bytes or _spool.waiting) and _spool.directory is not None:
            shutil.rmtree(_spool.directory, ignore_errors=True)
        # Whatever the database could not take stays on disk; releasing the lock hands it to
        # the next replay (ours, another process's, or the periodic task).
        if _spool.lock_fd >= 0:
            os.close(_spool.lock_fd)
        _spool.__init__()


def _start() -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(target=_run, name="access-log-writer", daemon=True)
        _thread.start()


def _forget_after_fork() -> None:
    """A forked child shares its parent's spool files and lock; it starts a spool of its own
    (closing its copies here leaves the parent's lock held by the parent)."""
    global _lock, _flush_lock, _thread
    for fd in (_spool.fd, _spool.lock_fd):
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
    _spool.__init__()
    _lock, _flush_lock, _thread = threading.Lock(), threading.Lock(), None


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(stop)
