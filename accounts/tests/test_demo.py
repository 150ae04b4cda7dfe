import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import transaction

from accounts.models import Group, User
from console.core.roles import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[str]:
    """The demo organization, seeded once for this module (seeding is the slow part) inside a
    transaction rolled back after its last test; each test's own changes roll back to it. What
    ``seed_demo`` printed."""
    out = io.StringIO()
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", "--users", "120", stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)


def test_the_demo_organization_is_realistic_and_idempotent(demo):
    out = demo
    assert "120 people in 6 groups" in out and "admin@acme.example" in out
    assert User.objects.count() == 120
    assert set(Group.objects.values_list("name", flat=True)) == {
        "Engineering", "Finance", "HR", "Sales", "Contractors", "Security",
    }
    assert {u.role for u in User.objects.filter(email__in=[
        "admin@acme.example", "security@acme.example", "hr@acme.example",
        "auditor@acme.example", "employee@acme.example",
    ])} == set(Role.values)
    assert User.objects.get(email="admin@acme.example").check_password("ZeroTrust-demo-2026")
    assert User.objects.filter(manager__isnull=False).count() > 100
    assert User.objects.exclude(country="").values("country").distinct().count() >= 8
    call_command("seed_demo", "--users", "120")
    assert User.objects.count() == 120


def test_the_demo_has_working_access_policies(demo, client):
    from console.access import engine, services
    from console.access.launcher import tiles_for
    from console.access.models import Application, Policy

    for policy in Policy.objects.all():
        services.validate_rules(policy.action, policy.rules)  # every demo policy compiles
    employee = User.objects.get(email="employee@acme.example")
    client.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    request = client.get("/launcher/").wsgi_request
    names = {t.application.name for t in tiles_for(request, employee)}
    assert {"Company Wiki", "Grafana", "GitHub", "Internal LLM", "Employee handbook"} <= names
    assert "Payroll" not in names
    finance = User.objects.filter(directory_groups__name="Finance", role="employee").first()
    payroll = Application.objects.get(name="Payroll")
    from console.access import decisions

    outcome = decisions.decide(application=payroll, source="api", issuer="http://t", user=finance)
    assert outcome.decision.outcome == engine.Outcome.CHALLENGE
    assert outcome.decision.challenge[0].methods == ("security_key",)
