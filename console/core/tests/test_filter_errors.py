"""An invalid date in a list filter says so, naming the field, on every list with date filters
(instead of an empty list that reads as "nothing recorded yet")."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

DATE_LISTS = [
    ("/audit/", "since", "From"),
    ("/audit/", "until", "To"),
    ("/access/log/", "since", "From"),
    ("/risk/telemetry/", "until", "To"),
    ("/onboarding/", "start_after", "Starts from"),
]


@pytest.mark.parametrize(("path", "param", "label"), DATE_LISTS)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_an_invalid_date_names_its_field(client_for, super_admin, path, param, label, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    response = client_for(super_admin).get(f"{path}?{param}=2026-13-45", headers=headers)
    assert response.status_code == 200
    text = response.content.decode()
    assert 'data-testid="filter-errors"' in text
    assert f"{label}: “2026-13-45” is not a date; use YYYY-MM-DD." in text
    after = text.split('data-testid="filter-errors"', 1)[1]
    assert "match" in after and "yet" not in after.split("</div>", 2)[1]  # "no … match", not "nothing … yet"


def test_a_valid_date_shows_no_error(client_for, super_admin):
    text = client_for(super_admin).get("/audit/?since=2026-01-05").content.decode()
    assert 'data-testid="filter-errors"' not in text


def test_the_audit_export_refuses_an_invalid_date_instead_of_an_empty_file(client_for, auditor):
    response = client_for(auditor).get("/audit/export.csv?until=yesterday")
    assert response.status_code == 400
    assert response.content.decode() == "To: “yesterday” is not a date; use YYYY-MM-DD."
