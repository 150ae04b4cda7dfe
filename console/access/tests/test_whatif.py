"""What-if tools decide for the request the admin describes: the policy tester and the impact
preview take the address, country and device; the impact preview counts a change from step-up
to a denial as losing access."""

from __future__ import annotations

import pytest

from accounts.tests.factories import GroupFactory
from console.access import services
from console.access.models import AccessLogEntry, Device
from console.access.tester import what_if
from console.access.tests.test_pages import rule_rows
from console.access.whatif import DeviceChoice, Scenario
from console.core.policy import DevicePosture

pytestmark = pytest.mark.django_db

STAFF = {"kind": "include", "type": "email_domain", "values": "corp.example"}


@pytest.fixture
def wiki(super_admin):
    return services.application_create(actor=super_admin, name="Wiki", type="self_hosted", domain="wiki.corp.example")


def attach(actor, app, name: str, rules: dict):
    policy = services.policy_create(actor=actor, name=name, action="allow", rules=rules)
    services.application_set_policies(actor=actor, application=app, policy_ids=[policy.pk])
    return policy


def preview(client, policy, *rows, **request_fields):
    data = {"policy_id": policy.pk, "name": policy.name, "action": "allow", "session_seconds": "",
            **rule_rows(*rows), **{f"preview-{k}": v for k, v in request_fields.items()}}
    return client.post("/access/policies/impact/", data, HTTP_HX_REQUEST="true")


def test_step_up_then_denied_is_losing_access_and_direct_to_step_up_is_not(
    client_for, super_admin, security_admin, employee, make_user,
):
    engineering = GroupFactory(name="Engineering")
    engineering.members.add(employee)
    outsider = make_user("employee", email="sales@corp.example")
    policy = attach(super_admin, services.application_create(actor=super_admin, name="Git", type="self_hosted",
                                                             domain="git.corp.example"),
                    "Staff with a key", {"include": [{"type": "email_domain", "values": ["corp.example"]}],
                                         "require": [{"type": "mfa_method", "values": ["security_key"]}]})
    client = client_for(security_admin)
    # Today everyone at corp.example gets in after a security key. Edited: engineers only.
    response = preview(client, policy, {"kind": "include", "type": "group", "values": "Engineering"},
                       {"kind": "require", "type": "mfa_method", "values": "security_key"})
    [impact] = response.context["impacts"]
    lost = {u.email for u in impact.lost.users}
    assert outsider.email in lost and employee.email not in lost
    assert impact.step_up.count == 0
    page = response.content.decode()
    assert "would lose access" in page and "between direct access and step-up" not in page

    # Edited: no security key needed any more: everyone still gets in, now directly.
    response = preview(client, policy, STAFF)
    [impact] = response.context["impacts"]
    assert impact.lost.count == 0 and impact.gained.count == 0
    assert outsider.email in {u.email for u in impact.step_up.users}
    assert "would still get in, but change between direct access and step-up" in response.content.decode()


def test_the_impact_preview_decides_for_the_chosen_country_address_and_device(
    client_for, super_admin, security_admin, employee, wiki,
):
    policy = attach(super_admin, wiki, "Staff", {"include": [{"type": "email_domain", "values": ["corp.example"]}]})
    client = client_for(security_admin)
    outside_kp = (STAFF, {"kind": "exclude", "type": "country", "values": "KP"})
    [impact] = preview(client, policy, *outside_kp).context["impacts"]
    assert impact.unchanged  # a request from no country is not from KP
    response = preview(client, policy, *outside_kp, country="kp")
    [impact] = response.context["impacts"]
    assert employee.email in {u.email for u in impact.lost.users}
    assert "For a request from no known address in KP" in response.content.decode()
    # An address in the excluded range, and a device that must be managed.
    in_range = (STAFF, {"kind": "exclude", "type": "ip_range", "values": "203.0.113.0/24"})
    [impact] = preview(client, policy, *in_range, ip="203.0.113.7").context["impacts"]
    assert impact.lost.count == impact.evaluated
    managed = (STAFF, {"kind": "require", "type": "device_posture", "managed": "on", "disk_encrypted": "on"})
    [impact] = preview(client, policy, *managed).context["impacts"]
    assert impact.lost.count == impact.evaluated  # no device known: nobody passes
    response = preview(client, policy, *managed, device="described", device_os="macOS", device_managed="on",
                       device_disk_encrypted="on")
    [impact] = response.context["impacts"]
    assert impact.unchanged
    assert "on a managed, encrypted macOS" in response.content.decode()
    Device.objects.create(user=employee, device_id="emp-mac", name="Mac", os="macOS", managed=True,
                          disk_encrypted=True)
    [impact] = preview(client, policy, *managed, device="own").context["impacts"]
    assert employee.email not in {u.email for u in impact.lost.users} and impact.lost.count == impact.evaluated - 1
    assert not AccessLogEntry.objects.exists()  # nothing is recorded


def test_a_wrong_request_description_says_what_is_wrong(client_for, super_admin, security_admin, wiki):
    policy = attach(super_admin, wiki, "Staff", {"include": [{"type": "email_domain", "values": ["corp.example"]}]})
    client = client_for(security_admin)
    page = preview(client, policy, STAFF, country="Germany").content.decode()
    assert "Fix the request to preview for." in page and "Use a two-letter country code" in page
    page = preview(client, policy, STAFF, device="none", device_managed="on").content.decode()
    assert "A device like the one described below" in page
    page = preview(client, policy, STAFF, ip="not-an-ip").content.decode()
    assert "IP address:" in page
    editor = client.get(f"/access/policies/{policy.pk}/edit/").content.decode()
    assert 'name="preview-country"' in editor and 'name="preview-device"' in editor


def test_the_tester_decides_for_the_chosen_device(client_for, super_admin, auditor, employee, wiki):
    group = GroupFactory(name="Engineering")
    group.members.add(employee)
    attach(super_admin, wiki, "Engineers on managed devices", {
        "include": [{"type": "group", "values": [group.pk]}],
        "require": [{"type": "device_posture", "managed": True}],
    })
    assert what_if(wiki, identity_provider="", user=employee)["decision"].outcome == "deny"
    described = Scenario(device=DeviceChoice.DESCRIBED, posture=DevicePosture(device_id="x", managed=True))
    assert what_if(wiki, identity_provider="", user=employee, scenario=described)["decision"].outcome == "allow"
    own = Scenario(device=DeviceChoice.OWN)
    assert what_if(wiki, identity_provider="", scenario=own)["denied_pct"] == 100.0
    Device.objects.create(user=employee, device_id="emp-laptop", name="Laptop", os="Linux", managed=True)
    assert what_if(wiki, identity_provider="", scenario=own)["allowed"] == [employee]

    page = client_for(auditor).get("/access/tester/", {
        "application": wiki.pk, "email": employee.email, "identity_provider": "password",
        "country": "de", "ip": "198.51.100.4", "device": "described", "device_os": "Windows",
        "device_managed": "on",
    }).content.decode()
    assert "For a request from 198.51.100.4 in DE, on a managed, unencrypted Windows" in page
    assert "ALLOW" in page
