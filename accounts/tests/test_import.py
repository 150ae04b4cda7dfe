import pytest

from accounts.models import GroupMembership, User
from accounts.services.people_import import users_import_csv
from accounts.tests.factories import GroupFactory, UserFactory
from console.audit.models import AuditEvent
from console.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db

GOOD_AND_BAD = """email,full_name,role,title,country,manager_email,groups
lead@corp.example,Lena Lead,Employee,Engineering Manager,DE,,Engineering
dev@corp.example,Dev One,,Engineer,PL,lead@corp.example,Engineering;Security
not-an-email,Broken Row,Employee,,DE,,
,Nameless,,,,,
dev@corp.example,Dev Again,,,,,
boss@corp.example,Bad Role,Overlord,,,,
far@corp.example,Far Away,Employee,,Germany,,
orphan@corp.example,Orphan,Employee,,DE,ghost@corp.example,
lost@corp.example,Lost,Employee,,DE,,Nonexistent
"""


@pytest.fixture
def groups():
    return GroupFactory(name="Engineering"), GroupFactory(name="Security")


def test_good_rows_are_applied_and_each_bad_row_is_reported(security_admin, groups):
    report = users_import_csv(actor=security_admin, data=GOOD_AND_BAD.encode())
    assert (report.created, report.updated) == (2, 0)
    problems = {(e.line, e.column) for e in report.errors}
    assert problems == {
        (4, "email"), (5, "email"), (6, "email"), (7, "role"), (8, "country"),
        (9, "manager_email"), (10, "groups"),
    }
    messages = {e.line: e.message for e in report.errors}
    assert "appears more than once" in messages[6]
    assert "Overlord" in messages[7]
    assert "Nonexistent" in messages[10]
    dev = User.objects.get(email="dev@corp.example")
    assert dev.manager.email == "lead@corp.example"
    assert dev.source == "import"
    assert set(GroupMembership.objects.filter(user=dev).values_list("group__name", flat=True)) == {
        "Engineering", "Security",
    }
    summary = AuditEvent.objects.get(action="user.imported")
    assert summary.changes == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 7}
    assert summary.actor_email == security_admin.email


def test_rows_whose_manager_was_rejected_are_reported_not_a_server_error(security_admin):
    """A row may name a manager further down the file; when that manager's own row is rejected,
    the row (and whoever reports to it) is reported with the reason, and the rest is applied."""
    data = """email,full_name,role,title,country,manager_email,groups
dev@corp.example,Dev One,Employee,,DE,lead@corp.example,
intern@corp.example,Intern,Employee,,DE,dev@corp.example,
lead@corp.example,Lena Lead,Employee,,Germany,,
solo@corp.example,Solo,Employee,,DE,,
"""
    report = users_import_csv(actor=security_admin, data=data.encode())
    assert report.created == 1 and User.objects.filter(email="solo@corp.example").exists()
    assert [(e.line, e.column) for e in report.errors] == [(2, "manager_email"), (3, "manager_email"), (4, "country")]
    assert report.errors[0].message == "lead@corp.example is not created: their own row was rejected"
    assert not User.objects.filter(email__in=["dev@corp.example", "intern@corp.example"]).exists()


def test_importing_the_same_file_twice_changes_nothing_the_second_time(security_admin, groups):
    users_import_csv(actor=security_admin, data=GOOD_AND_BAD.encode())
    users_before = User.objects.count()
    events_before = AuditEvent.objects.exclude(action="user.imported").count()
    report = users_import_csv(actor=security_admin, data=GOOD_AND_BAD.encode())
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert User.objects.count() == users_before
    assert AuditEvent.objects.exclude(action="user.imported").count() == events_before


def test_rows_update_existing_people_matched_by_e_mail(security_admin, employee):
    data = "email,full_name,title\nEMP@corp.example,Emil Renamed,Analyst\n"
    report = users_import_csv(actor=security_admin, data=data.encode())
    assert report.updated == 1
    employee.refresh_from_db()
    assert (employee.full_name, employee.title, employee.role) == ("Emil Renamed", "Analyst", "employee")


def test_hr_cannot_grant_console_roles_by_import(hr_user):
    data = "email,full_name,role\nsneaky@corp.example,Sneaky,Super Admin\n"
    report = users_import_csv(actor=hr_user, data=data.encode())
    assert report.created == 0
    assert report.errors[0].column == "role"
    assert not User.objects.filter(email="sneaky@corp.example").exists()


def test_a_check_only_run_changes_nothing(security_admin, groups):
    report = users_import_csv(actor=security_admin, data=GOOD_AND_BAD.encode(), dry_run=True)
    assert report.created == 2 and len(report.errors) == 7
    assert not User.objects.filter(email="lead@corp.example").exists()
    assert not AuditEvent.objects.filter(action__startswith="user.").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"name,phone\nx,1\n", "lacks the column"),
        (b"email,full_name,shoe_size\na@b.example,A,42\n", "Unknown column"),
        ("email,full_name\nü@b.example,Ü\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_an_unreadable_file_is_refused_whole(hr_user, data, message):
    with pytest.raises(ValidationFailed, match=message):
        users_import_csv(actor=hr_user, data=data)
    assert not AuditEvent.objects.exists()


def test_the_import_page_shows_the_per_row_report(client_for, security_admin, groups):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("people.csv", GOOD_AND_BAD.encode(), content_type="text/csv")
    page = client_for(security_admin).post("/accounts/users/import/", {"file": upload})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="import-errors"' in html
    assert "Overlord" in html and "appears more than once" in html
    assert User.objects.filter(email="lead@corp.example").exists()


def test_checking_a_file_reads_the_people_it_names_in_one_query(
    security_admin, django_assert_num_queries
):
    """Rows naming existing people and managers outside the file cost no query per row."""
    manager = UserFactory(email="manager@corp.example")
    people = [UserFactory(email=f"p{i}@corp.example", manager=manager) for i in range(3)]

    def check(rows: list) -> int:
        lines = "".join(f"{p.email},{p.full_name},,,,manager@corp.example,\n" for p in rows)
        with django_assert_num_queries(2):  # the people the file names, then the groups
            report = users_import_csv(
                actor=security_admin, data=f"email,full_name,role,title,country,manager_email,groups\n{lines}".encode(),
                dry_run=True,
            )
        return report.updated

    assert check(people[:1]) == 1
    assert check(people) == 3
