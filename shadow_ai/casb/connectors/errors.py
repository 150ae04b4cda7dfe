"""The one small set of errors every connector raises. The scanner decides what to do from the
class alone, never from a vendor's wording:

* ``TransientError`` (and ``RateLimited``, ``MalformedResponse``): the vendor is unreachable,
  overloaded, throttling us or answered with something broken. The run keeps its place and is
  retried later with backoff.
* ``AuthError``: the credentials are refused or lack a permission or scope. The run stops and
  the integration is marked as needing attention; retrying cannot help.
* ``NotFound``: the thing asked for does not exist (a wrong organization or workspace id when it
  ends a scan; a connector may also catch it for one item and carry on).
* ``BadRequest``: the vendor rejected the request as malformed or invalid; retrying the same
  request cannot help.
* ``StopScan``: the connector decided the scan cannot go on (a missing prerequisite it can name).

Messages are written for an admin: they say what is wrong and, where we know, what to do.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every connector error. ``str(error)`` is safe to show an admin."""

    #: The integration needs an admin before scans can work again.
    needs_attention = False
    #: The scan may be retried later.
    retryable = False
    kind = "error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TransientError(ConnectorError):
    retryable = True
    kind = "transient"

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The vendor throttled us for longer than we wait in place."""

    kind = "rate_limited"


class MalformedResponse(TransientError):
    """The vendor answered with a body that is not the JSON it documents (an outage page, a
    truncated reply). Usually passing; after the run's retries it fails the run."""

    kind = "malformed"


class AuthError(ConnectorError):
    needs_attention = True
    kind = "auth"


class NotFound(ConnectorError):
    needs_attention = True
    kind = "not_found"


class BadRequest(ConnectorError):
    needs_attention = True
    kind = "bad_request"


class StopScan(ConnectorError):
    needs_attention = True
    kind = "stop"
