import pytest

from accounts.models import Group, User
from accounts.tests.factories import GroupFactory, UserFactory
from console.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def names(response):
    return [u.full_name for u in response.context["listing"].page.object_list]


@pytest.fixture
def people(db):
    eng = GroupFactory(name="Engineering")
    UserFactory(full_name="Zed Zulu", email="zed@corp.example", country="US", role="auditor")
    alice = UserFactory(full_name="Alice Able", email="alice@corp.example", country="DE", title="Engineer")
    UserFactory(full_name="Bob Baker", email="bob@corp.example", country="FR", is_active=False)
    eng.members.add(alice)
    return eng


def test_search_filter_sort_and_paginate_users(client_for, auditor, people):
    client = client_for(auditor)
    assert names(client.get("/accounts/users/", {"q": "engineer"})) == ["Alice Able"]
    assert names(client.get("/accounts/users/", {"role": "auditor", "q": "z"})) == ["Zed Zulu"]
    assert names(client.get("/accounts/users/", {"status": "deactivated"})) == ["Bob Baker"]
    assert names(client.get("/accounts/users/", {"group": people.pk})) == ["Alice Able"]
    assert names(client.get("/accounts/users/", {"country": "FR"})) == ["Bob Baker"]
    ordered = names(client.get("/accounts/users/", {"sort": "-name", "q": "corp.example"}))
    assert ordered[:2] == ["Zed Zulu", "Bob Baker"]
    # An unknown sort key falls back to the default instead of failing.
    assert client.get("/accounts/users/", {"sort": "password"}).status_code == 200
    for i in range(30):
        UserFactory(full_name=f"Filler {i:02}", email=f"filler{i}@corp.example")
    first = client.get("/accounts/users/", {"q": "filler"})
    assert len(names(first)) == 25 and first.context["listing"].total == 30
    assert names(client.get("/accounts/users/", {"q": "filler", "page": 2})) == [
        f"Filler {i:02}" for i in range(25, 30)
    ]
    assert len(names(client.get("/accounts/users/", {"q": "filler", "per_page": 50}))) == 30


def test_an_empty_search_says_what_to_do(client_for, auditor, people):
    page = client_for(auditor).get("/accounts/users/", {"q": "no-such-person"})
    assert b"No users match these filters" in page.content


def test_user_list_queries_do_not_grow_with_users(client_for, auditor, people, django_assert_max_num_queries):
    for i in range(40):
        UserFactory(email=f"n{i}@corp.example", manager=User.objects.first())
    client = client_for(auditor)
    with django_assert_max_num_queries(10):
        page = client.get("/accounts/users/", {"per_page": 100})
    assert len(page.context["listing"].page.object_list) == 44


def test_adding_a_user_through_the_form(client_for, hr_user):
    client = client_for(hr_user)
    form = client.get("/accounts/users/new/")
    roles = [value for value, _ in form.context["form"].fields["role"].choices]
    assert roles == ["employee"]  # HR cannot grant console roles
    response = client.post("/accounts/users/new/", {
        "email": "newbie@corp.example", "full_name": "New Bie", "role": "employee",
        "country": "SE", "manager": hr_user.email,
    })
    newbie = User.objects.get(email="newbie@corp.example")
    assert response["Location"] == f"/accounts/users/{newbie.pk}/"
    assert newbie.manager == hr_user
    detail = client.get(response["Location"]).content.decode()
    assert "New Bie" in detail and "user.created" in detail


def test_form_errors_keep_what_was_typed_and_name_the_field(client_for, security_admin, employee):
    response = client_for(security_admin).post("/accounts/users/new/", {
        "email": employee.email, "full_name": "Clash", "role": "employee", "manager": "ghost@corp.example",
    })
    assert response.status_code == 200
    form = response.context["form"]
    assert "No user with the e-mail ghost@corp.example exists." in form.errors["manager"]
    assert b'value="Clash"' in response.content
    response = client_for(security_admin).post("/accounts/users/new/", {
        "email": employee.email.upper(), "full_name": "Clash", "role": "employee",
    })
    assert "already exists" in str(response.context["form"].errors["email"])


def test_hr_sees_no_edit_controls_on_an_admin(client_for, hr_user, security_admin):
    client = client_for(hr_user)
    page = client.get(f"/accounts/users/{security_admin.pk}/").content.decode()
    assert f"/accounts/users/{security_admin.pk}/edit/" not in page
    response = client.get(f"/accounts/users/{security_admin.pk}/edit/")
    assert response.status_code == 302
    client.post(f"/accounts/users/{security_admin.pk}/deactivate/")
    security_admin.refresh_from_db()
    assert security_admin.is_active


def test_group_pages_create_edit_add_remove_delete(client_for, security_admin, employee):
    client = client_for(security_admin)
    created = client.post("/accounts/groups/new/", {"name": "Red Team", "description": "Attack sims"})
    group = Group.objects.get(name="Red Team")
    assert created["Location"] == f"/accounts/groups/{group.pk}/"
    client.post(f"/accounts/groups/{group.pk}/members/add/", {"email": employee.email.upper()})
    page = client.get(f"/accounts/groups/{group.pk}/")
    assert [m.email for m in page.context["listing"].page.object_list] == [employee.email]
    bad = client.post(f"/accounts/groups/{group.pk}/members/add/", {"email": "ghost@corp.example"}, follow=True)
    assert b"No user with the e-mail ghost@corp.example exists." in bad.content
    client.post(f"/accounts/groups/{group.pk}/edit/", {"name": "Purple Team", "description": ""})
    group.refresh_from_db()
    assert group.name == "Purple Team"
    client.post(f"/accounts/groups/{group.pk}/members/{employee.pk}/remove/")
    assert not group.members.exists()
    client.post(f"/accounts/groups/{group.pk}/delete/")
    assert not Group.objects.filter(pk=group.pk).exists()
    actions = list(AuditEvent.objects.filter(object_type="accounts.group").order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["group.created", "group.member_added", "group.updated", "group.member_removed",
                       "group.deleted"]


def test_duplicate_group_name_is_a_form_error(client_for, security_admin):
    GroupFactory(name="Finance")
    response = client_for(security_admin).post("/accounts/groups/new/", {"name": "FINANCE"})
    assert "A group named FINANCE already exists." in response.context["form"].errors["name"]


def test_overview_counts_people(client_for, auditor, people):
    page = client_for(auditor).get("/")
    assert page.context["active_users"] == User.objects.filter(is_active=True).count()
    assert page.context["deactivated_users"] == 1
    assert page.context["groups"] == 1
