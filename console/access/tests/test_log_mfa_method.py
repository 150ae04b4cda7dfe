"""The authentication log says which MFA method satisfied a policy after a step-up."""

from __future__ import annotations

import pytest

from conftest import mark_mfa_verified
from console.access import logbuffer, services
from console.access.models import AccessLogEntry

pytestmark = pytest.mark.django_db


def test_the_log_records_the_mfa_method_that_let_the_person_in(client_for, super_admin, employee, auditor):
    app = services.application_create(actor=super_admin, name="Git", type="self_hosted", domain="git.corp.example",
                                      launcher_visible=True)
    policy = services.policy_create(actor=super_admin, name="Staff with a code", action="allow", rules={
        "include": [{"type": "email_domain", "values": ["corp.example"]}],
        "require": [{"type": "mfa_method", "values": ["security_key", "totp"], "max_age_minutes": 10}],
    })
    services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    client = client_for(employee)
    assert client.get(f"/access/applications/{app.pk}/launch/").status_code == 200  # the challenge
    mark_mfa_verified(client, employee)  # an authenticator app code in this session
    assert client.get(f"/access/applications/{app.pk}/launch/")["Location"] == "https://git.corp.example/"
    logbuffer.flush()
    assert list(AccessLogEntry.objects.order_by("at", "id").values_list("outcome", "mfa_method")) == [
        ("challenge", ""), ("allow", "totp"),
    ]
    page = client_for(auditor).get("/access/log/").content.decode()
    assert 'data-testid="log-mfa">Authenticator app</td>' in page
    export = client_for(auditor).get("/access/log/export.csv")
    assert b"mfa_method" in b"".join(export.streaming_content)
