import csv
import io

import pytest

from console.audit.models import AuditEvent
from console.audit.services import audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(super_admin, security_admin):
    audit_record(actor=super_admin, action="group.created", object_type="accounts.group", object_repr="Red")
    audit_record(actor=security_admin, action="user.updated", object_type="accounts.user", object_repr="Bob")
    audit_record(actor=None, action="auth.login_failed", object_type="accounts.user",
                 object_repr="=HYPERLINK(\"http://evil\")")


def test_auditors_filter_the_trail(client_for, auditor, events):
    client = client_for(auditor)
    page = client.get("/audit/", {"actor": "sec@"})
    rows = list(page.context["listing"].page.object_list)
    assert [r.action for r in rows] == ["user.updated"]
    page = client.get("/audit/", {"action": "auth.login_f"})
    assert [r.action for r in page.context["listing"].page.object_list] == ["auth.login_failed"]
    page = client.get("/audit/", {"object_type": "accounts.group"})
    assert [r.object_repr for r in page.context["listing"].page.object_list] == ["Red"]
    page = client.get("/audit/", {"q": "nothing-matches"})
    assert b"No events match these filters" in page.content


def test_htmx_requests_get_only_the_results_fragment(client_for, auditor, events):
    page = client_for(auditor).get("/audit/", {"q": "Red"}, HTTP_HX_REQUEST="true")
    assert b'id="results"' in page.content
    assert b"<html" not in page.content


def test_export_is_the_filtered_trail_as_csv_and_safe_for_spreadsheets(client_for, auditor, events):
    response = client_for(auditor).get("/audit/export.csv", {"object_type": "accounts.user"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["action"] for r in rows} == {"user.updated", "auth.login_failed", "auth.login"}
    formula = next(r for r in rows if r["action"] == "auth.login_failed")["object_repr"]
    assert formula.startswith("'=")  # never evaluated as a formula
    assert rows[0]["at"] <= rows[1]["at"]


def test_detail_shows_old_and_new_values(client_for, auditor, super_admin):
    event = audit_record(
        actor=super_admin, action="user.updated", object_repr="Bob",
        changes={"role": {"old": "employee", "new": "auditor"}},
    )
    page = client_for(auditor).get(f"/audit/{event.pk}/")
    assert b"employee" in page.content and b"auditor" in page.content


def test_list_query_count_does_not_grow_with_rows(client_for, auditor, django_assert_max_num_queries):
    for i in range(60):
        audit_record(actor=auditor, action=f"x.{i}", object_repr=str(i))
    client = client_for(auditor)
    with django_assert_max_num_queries(8):
        client.get("/audit/")
    assert AuditEvent.objects.count() >= 60
