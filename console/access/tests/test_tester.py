"""The policy tester's what-if, without a request: one person explained, everyone split."""

import pytest

from accounts.tests.factories import GroupFactory
from console.access import services
from console.access.models import AccessLogEntry
from console.access.tester import what_if

pytestmark = pytest.mark.django_db


@pytest.fixture
def wiki(super_admin, employee):
    group = GroupFactory(name="Engineering")
    group.members.add(employee)
    app = services.application_create(actor=super_admin, name="Wiki", type="self_hosted", domain="wiki.corp.example")
    policy = services.policy_create(actor=super_admin, name="Eng outside KP", action="allow", rules={
        "include": [{"type": "group", "values": [group.pk]}],
        "exclude": [{"type": "country", "values": ["KP"]}],
    })
    services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    return app


def test_everyone_is_split_by_the_request_s_country(wiki, employee, super_admin):
    here = what_if(wiki, ip=None, country="DE", identity_provider="")
    assert here["allowed"] == [employee] and here["total"] == 2 and here["allowed_pct"] == 50.0
    there = what_if(wiki, ip=None, country="KP", identity_provider="")
    assert there["allowed"] == [] and there["denied_pct"] == 100.0
    assert not AccessLogEntry.objects.exists()


def test_one_person_gets_the_explained_decision(wiki, employee):
    result = what_if(wiki, ip=None, country="DE", identity_provider="password", user=employee)
    assert result["single"] and result["decision"].outcome == "allow"
