"""An expected 403 (a role check saying no) is logged as one line with the reason, not a traceback."""

from __future__ import annotations

import logging

import pytest


@pytest.mark.django_db
def test_a_refused_role_is_one_log_line_without_traceback(client_for, employee, caplog) -> None:
    client = client_for(employee)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/audit/")
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1
    record = records[0]
    assert record.exc_info is None and not record.exc_text
    line = logging.Formatter("%(levelname)s %(name)s %(message)s").format(record)
    assert "\n" not in line and "Traceback" not in line
    assert line == (f"WARNING django.request Forbidden (Permission denied): /audit/: Your role does not give access "
                    f"to this page. (user {employee.pk}, role employee)")


@pytest.mark.django_db
def test_a_server_error_still_keeps_its_traceback(caplog) -> None:
    from console.core.logfilters import ExpectedForbidden

    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s",
                                   ("/x/",), sys.exc_info())
    record.status_code = 500
    assert ExpectedForbidden().filter(record) is True
    assert record.exc_info is not None
