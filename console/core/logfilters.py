"""Logging filters the settings install.

An expected refusal is not an error: Django logs every ``PermissionDenied`` (a role check saying
no, ``console.core.permissions``) on ``django.request`` with the exception's traceback, which
buries real errors under pages of stack for something that worked as designed. The filter keeps
the warning and turns it into one line with the reason and the person, without the traceback."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied


class ExpectedForbidden(logging.Filter):
    """On ``django.request``: a 403 raised as ``PermissionDenied`` becomes one line,
    ``Forbidden (Permission denied): /path: reason (user 12, role employee)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if getattr(record, "status_code", None) != 403 or not exc_info or not isinstance(exc_info[1],
                                                                                         PermissionDenied):
            return True
        reason = str(exc_info[1]) or "refused"
        request = getattr(record, "request", None)
        user = getattr(request, "user", None)
        who = (f"user {user.pk}, role {getattr(user, 'role', '?')}" if getattr(user, "is_authenticated", False)
               else "anonymous")
        record.msg = f"{record.getMessage()}: {reason} ({who})"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True
