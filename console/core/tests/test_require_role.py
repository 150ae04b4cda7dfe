"""The one role check services make (``require_role``) and its rule for a missing actor: refused,
unless the caller says no person acts (``system=True``)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from console.audit.models import AuditEvent
from console.core.errors import PermissionRefused
from console.core.permissions import require_role
from console.core.roles import ADMINS
from risk.services import investigations
from shadow_ai.dlp import services as dlp_services
from shadow_ai.dlp.models import DlpProfile

pytestmark = pytest.mark.django_db


def test_a_person_whose_role_is_allowed_passes(security_admin):
    require_role(security_admin, ADMINS, "change policies")


def test_a_person_whose_role_is_not_allowed_is_refused_with_their_role_named(auditor):
    with pytest.raises(PermissionRefused, match=r"^Your role \(Auditor\) cannot change policies\.$"):
        require_role(auditor, ADMINS, "change policies")


def test_saying_system_does_not_let_a_person_past_their_role(employee):
    with pytest.raises(PermissionRefused, match=r"Your role \(Employee\) cannot change policies"):
        require_role(employee, ADMINS, "change policies", system=True)


def test_no_actor_is_refused_unless_the_caller_says_it_is_the_system(db):
    with pytest.raises(PermissionRefused, match="Only a signed-in person whose role allows it can change policies"):
        require_role(None, ADMINS, "change policies")
    require_role(None, ADMINS, "change policies", system=True)


def test_an_anonymous_visitor_is_refused_even_as_the_system():
    with pytest.raises(PermissionRefused, match="signed-in person"):
        require_role(AnonymousUser(), ADMINS, "change policies", system=True)


# --- Services a job or an API token calls without a person ----------------------------------------


def test_the_predefined_dlp_sync_runs_for_the_system_only_when_it_says_so(db):
    DlpProfile.objects.all().delete()
    with pytest.raises(PermissionRefused, match="update predefined DLP profiles"):
        dlp_services.predefined_sync(actor=None)
    assert not DlpProfile.objects.exists()
    assert dlp_services.predefined_sync(actor=None, system=True).profiles_created > 0


def test_a_risk_reset_without_a_person_needs_the_api_token_named(employee):
    with pytest.raises(PermissionRefused, match="reset risk scores"):
        investigations.risk_reset(actor=None, user=employee, reason="SOAR playbook")
    investigations.risk_reset(actor=None, user=employee, reason="SOAR playbook", via="API token soar")
    assert AuditEvent.objects.get(action="risk.reset").changes["via"] == "API token soar"
