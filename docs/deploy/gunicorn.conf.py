"""gunicorn settings for the console's web processes (docs/deployment.md, "Serving: resisting slow
clients"). Run behind the buffering nginx front of docs/deploy/nginx-console.conf:

    gunicorn console.wsgi -c docs/deploy/gunicorn.conf.py

Command-line options override these (e.g. ``--workers 8``); so does ``WEB_CONCURRENCY`` for the
number of workers. console/access/tests/test_serving.py starts gunicorn with this very file."""

import os

# Only the nginx on the same machine talks to gunicorn; nothing else should reach it.
bind = "127.0.0.1:8001"

# gthread: each worker process runs a pool of threads plus a main loop that accepts connections
# and keeps idle keep-alive connections in a poller, so an idle connection holds no thread and a
# request waiting on PostgreSQL, Redis or an outbound call (IdP discovery, a vendor connection
# test) does not stop the worker's other threads. Slow request bodies are nginx's job: it buffers
# the whole body before it opens the upstream request, so a thread only ever sees complete
# requests. The console's process-wide state (policy and token caches, the access-log buffer, the
# signing keys) is guarded by locks, and Django's database connections are per thread.
# Not gevent/eventlet: monkey-patching under psycopg and the Celery client is a risk for little
# gain when nginx already absorbs slow clients.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = 4

# A worker whose main loop says nothing for this long is killed and replaced. With gthread the
# main loop keeps reporting while threads work, so this catches a wedged process, not a slow
# request; nginx's proxy_read_timeout (60 s) bounds how long a client waits for an answer.
timeout = 30
graceful_timeout = 30

# Idle keep-alive connections from nginx are closed after 5 s. nginx closes its idle upstream
# connections after 4 s (keepalive_timeout in the upstream block), before gunicorn does, so nginx
# never sends a request on a connection gunicorn is closing (a POST would not be retried: 502).
keepalive = 5

# The defaults, stated: a request line of 4 KiB, 100 header fields of 8 KiB each at most.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = "-"
errorlog = "-"


def post_fork(server, worker):
    """Give large request buffers back to the system when a request ends.

    A batch or a refused gzip bomb holds up to RISK_INGEST_MAX_INFLATED_BYTES (64 MiB) in 1 MiB
    pieces while one thread reads it. glibc raises its mmap threshold after the first such piece
    is freed, and from then on keeps pieces in the thread's own arena: each of the 4 threads could
    keep 64 MiB resident for good (measured: a worker's peak grew by 129 MiB after two bombs on
    two threads). A fixed threshold keeps allocations of 256 KiB and more in their own mappings,
    returned when freed; Python's small objects are not affected. Two arenas bound what the
    threads keep of the rest."""
    import ctypes
    import ctypes.util

    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return
    try:
        libc = ctypes.CDLL(libc_name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return
    m_mmap_threshold, m_arena_max = -3, -8
    if not mallopt(m_mmap_threshold, 256 * 1024) or not mallopt(m_arena_max, 2):
        server.log.warning("could not set the allocator's mmap threshold or arena count")
