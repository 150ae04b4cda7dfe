import csv
import io

import pytest

from accounts.tests.factories import GroupFactory
from console.access import decisions, policies, services
from console.access.models import AccessLogEntry, ApiToken, Application, Policy
from console.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _fresh_compiled_policies():
    policies.clear_local_cache()


def rule_rows(*rows):
    data = {"rules-TOTAL_FORMS": str(len(rows)), "rules-INITIAL_FORMS": "0", "rules-MIN_NUM_FORMS": "1",
            "rules-MAX_NUM_FORMS": "1000"}
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"rules-{i}-{key}"] = value
    return data


def test_adding_an_application_explains_bad_input(client_for, security_admin):
    client = client_for(security_admin)
    bad = client.post("/access/applications/new/", {"name": "Wiki", "type": "self_hosted",
                                                     "domain": "https://wiki.corp.example", "session_seconds": "86400"})
    assert "without http://" in str(bad.context["form"].errors["domain"])
    ok = client.post("/access/applications/new/", {"name": "Wiki", "type": "self_hosted",
                                                    "domain": "Wiki.Corp.Example", "session_seconds": "3600",
                                                    "launcher_visible": "on"})
    app = Application.objects.get()
    assert ok["Location"] == f"/access/applications/{app.pk}/"
    assert (app.domain, app.session_seconds) == ("wiki.corp.example", 3600)
    page = client.get(ok["Location"]).content.decode()
    assert "nobody can open this application" in page
    assert AuditEvent.objects.filter(action="access.application.created").exists()


def test_an_application_is_created_with_the_policies_picked_on_its_form(client_for, security_admin, employee):
    everyone = {"include": [{"type": "everyone"}]}
    staff = services.policy_create(actor=security_admin, name="Staff", action="allow",
                                   rules={"include": [{"type": "email_domain", "values": ["corp.example"]}]})
    leavers = services.policy_create(actor=security_admin, name="Leavers", action="block", rules=everyone)
    services.policy_create(actor=security_admin, name="Unrelated", action="allow", rules=everyone)
    client = client_for(security_admin)
    form = client.get("/access/applications/new/").content.decode()
    assert "Staff (Allow)" in form and "Leavers (Block)" in form and "Remove the current logo" not in form
    wrong = client.post("/access/applications/new/", {"name": "Wiki", "type": "self_hosted",
                                                      "domain": "wiki.corp.example", "session_seconds": "86400",
                                                      "policies": ["999999"]})
    assert "999999 is not one of the available choices" in str(wrong.context["form"].errors["policies"])
    assert not Application.objects.exists()
    response = client.post("/access/applications/new/", {
        "name": "Wiki", "type": "self_hosted", "domain": "wiki.corp.example", "session_seconds": "86400",
        "launcher_visible": "on", "policies": [str(staff.pk), str(leavers.pk)]}, follow=True)
    app = Application.objects.get()
    assert list(app.attachments.order_by("position").values_list("policy__name", flat=True)) == ["Leavers", "Staff"]
    page = response.content.decode()
    assert "Wiki was created with 2 policies." in page and "nobody can open this application" not in page
    event = AuditEvent.objects.get(action="access.application.policies_set")
    assert event.changes["policies"] == {"old": [], "new": ["Leavers", "Staff"]}
    assert decisions.decide(application=app, source=AccessLogEntry.Source.LAUNCHER, issuer="https://console.test",
                            user=employee, ip="127.0.0.1").decision.outcome == "deny"  # Leavers (Block) decides


def test_logos_must_be_images_and_are_served_with_their_type(client_for, security_admin):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(security_admin)
    svg = SimpleUploadedFile("x.svg", b"<svg onload=alert(1)>", content_type="image/svg+xml")
    bad = client.post("/access/applications/new/", {"name": "Chat", "type": "bookmark", "url": "https://chat.example",
                                                     "session_seconds": "86400", "logo": svg})
    assert "PNG, JPEG or WebP" in str(bad.context["form"].errors["logo"])
    png = SimpleUploadedFile("x.png", PNG, content_type="image/png")
    client.post("/access/applications/new/", {"name": "Chat", "type": "bookmark", "url": "https://chat.example",
                                              "session_seconds": "86400", "logo": png})
    app = Application.objects.get()
    logo = client.get(f"/access/applications/{app.pk}/logo/")
    assert logo["Content-Type"] == "image/png" and logo.content == PNG


def test_the_policy_editor_turns_rows_into_rules(client_for, security_admin):
    group = GroupFactory(name="Engineering")
    client = client_for(security_admin)
    response = client.post("/access/policies/new/", {
        "name": "Engineering only", "action": "allow", "session_seconds": "",
        **rule_rows({"kind": "include", "type": "group", "values": "engineering"},
                    {"kind": "require", "type": "mfa_method", "values": "security_key\nbiometrics", "max_age": "30"},
                    {"kind": "exclude", "type": "country", "values": "KP, IR"},
                    {"kind": "include", "type": "email", "values": "x@corp.example", "DELETE": "on"}),
    })
    policy = Policy.objects.get()
    assert response["Location"] == f"/access/policies/{policy.pk}/"
    assert policy.rules == {
        "include": [{"type": "group", "values": [group.pk]}],
        "require": [{"type": "mfa_method", "values": ["security_key", "biometrics"], "max_age_minutes": 30}],
        "exclude": [{"type": "country", "values": ["KP", "IR"]}],
    }
    detail = client.get(response["Location"]).content.decode()
    assert "Member of Engineering" in detail and "MFA with security_key or biometrics within 30 min" in detail
    edit = client.get(f"/access/policies/{policy.pk}/edit/").content.decode()
    assert "Engineering" in edit and "biometrics" in edit


def test_the_policy_editor_names_the_rule_that_is_wrong(client_for, security_admin):
    response = client_for(security_admin).post("/access/policies/new/", {
        "name": "Broken", "action": "allow",
        **rule_rows({"kind": "include", "type": "group", "values": "Nonexistent"},
                    {"kind": "exclude", "type": "ip_range", "values": "10.0.0.0/33"}),
    })
    assert response.status_code == 200
    html = response.content.decode()
    assert "Unknown group(s): Nonexistent." in html
    assert "&#x27;10.0.0.0/33&#x27; is not an IP address or CIDR range" in html
    assert not Policy.objects.exists()


def test_bypass_policies_refuse_identity_selectors(client_for, security_admin):
    response = client_for(security_admin).post("/access/policies/new/", {
        "name": "Open", "action": "bypass", **rule_rows({"kind": "include", "type": "email_domain",
                                                         "values": "corp.example"}),
    })
    assert "include 1 (email_domain): Bypass policies cannot use identity selectors" in response.content.decode()


def test_policies_are_ordered_per_application(client_for, security_admin):
    client = client_for(security_admin)
    app = services.application_create(actor=security_admin, name="Git", type="self_hosted", domain="git.corp.example")
    everyone = {"include": [{"type": "everyone"}]}
    a = services.policy_create(actor=security_admin, name="A", action="allow", rules=everyone)
    b = services.policy_create(actor=security_admin, name="B", action="block", rules=everyone)
    client.post(f"/access/applications/{app.pk}/policies/attach/", {"policy": a.pk})
    client.post(f"/access/applications/{app.pk}/policies/attach/", {"policy": b.pk})
    assert list(app.attachments.values_list("policy__name", flat=True)) == ["A", "B"]
    client.post(f"/access/applications/{app.pk}/policies/{b.pk}/move/", {"direction": "up"})
    assert list(app.attachments.order_by("position").values_list("policy__name", flat=True)) == ["B", "A"]
    client.post(f"/access/applications/{app.pk}/policies/{a.pk}/detach/")
    assert list(app.attachments.values_list("policy__name", flat=True)) == ["B"]
    event = AuditEvent.objects.filter(action="access.application.policies_set").order_by("-id").first()
    assert event.changes["policies"] == {"old": ["B", "A"], "new": ["B"]}


def test_the_tester_explains_one_person_and_counts_everyone(client_for, auditor, employee, make_user, super_admin):
    group = GroupFactory(name="Engineering")
    group.members.add(employee)
    make_user("employee", email="other@corp.example")
    app = services.application_create(actor=super_admin, name="Wiki", type="self_hosted", domain="wiki.corp.example")
    policy = services.policy_create(actor=super_admin, name="Eng", action="allow",
                                    rules={"include": [{"type": "group", "values": [group.pk]}]})
    services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    client = client_for(auditor)
    single = client.get("/access/tester/", {"email": employee.email, "application": app.pk})
    assert single.context["result"]["decision"].outcome == "allow"
    assert "Member of Engineering" in single.content.decode()
    everyone = client.get("/access/tester/", {"application": app.pk}).context["result"]
    assert [u.email for u in everyone["allowed"]] == [employee.email]
    assert everyone["total"] == 4 and everyone["allowed_pct"] == 25.0
    assert not AccessLogEntry.objects.exists()  # the tester records nothing


def test_the_launcher_shows_only_what_a_person_may_open(client_for, employee, make_user, super_admin):
    group = GroupFactory(name="Engineering")
    group.members.add(employee)
    wiki = services.application_create(actor=super_admin, name="Wiki", type="self_hosted", domain="wiki.corp.example")
    hidden = services.application_create(actor=super_admin, name="Hidden", type="self_hosted",
                                         domain="h.corp.example", launcher_visible=False)
    services.application_create(actor=super_admin, name="Nobody", type="self_hosted", domain="n.corp.example")
    policy = services.policy_create(actor=super_admin, name="Eng", action="allow",
                                    rules={"include": [{"type": "group", "values": [group.pk]}]})
    for app in (wiki, hidden):
        services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    client = client_for(employee)
    tiles = [t.application.name for t in client.get("/launcher/").context["tiles"]]
    assert tiles == ["Wiki"]
    assert client.get("/launcher/", {"q": "zz"}, HTTP_HX_REQUEST="true").context["tiles"] == []
    launch = client.get(f"/access/applications/{wiki.pk}/launch/")
    assert launch.status_code == 302 and launch["Location"] == "https://wiki.corp.example/"
    assert AccessLogEntry.objects.get().source == "launcher"
    outsider = make_user("employee", email="out@corp.example")
    refused = client_for(outsider).get(f"/access/applications/{wiki.pk}/launch/")
    assert refused.status_code == 403 and b"You cannot open Wiki" in refused.content


def test_secrets_are_shown_once(client_for, security_admin):
    client = client_for(security_admin)
    created = client.post("/access/api-tokens/new/", {"name": "edge", "scopes": ["access:decide"]})
    secret = created.context["secret"]
    assert secret.startswith("ztc_") and secret in created.content.decode()
    assert created["Cache-Control"] == "no-store"
    listing = client.get("/access/api-tokens/").content.decode()
    assert secret not in listing and ApiToken.objects.get().prefix in listing
    token_page = client.post("/access/service-tokens/new/", {"name": "ci"})
    assert token_page.context["secret"] in token_page.content.decode()
    assert token_page.context["secret"] not in client.get("/access/service-tokens/").content.decode()


def test_the_log_page_filters_and_exports(client_for, auditor, employee, super_admin):
    app = services.application_create(actor=super_admin, name="Wiki", type="self_hosted", domain="wiki.corp.example")
    decisions.decide(application=app, source="api", issuer="http://t", user=employee, ip="8.8.8.8")
    client = client_for(auditor)
    page = client.get("/access/log/", {"outcome": "deny"})
    assert [e.email for e in page.context["listing"].page.object_list] == [employee.email]
    assert page.context["summary"]["deny"] == 1
    export = client.get("/access/log/export.csv", {"q": "wiki"})
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0]["outcome"] == "deny" and rows[0]["country"] == "US"


def test_list_pages_do_not_grow_queries_with_rows(client_for, auditor, super_admin, django_assert_max_num_queries):
    for i in range(30):
        services.application_create(actor=super_admin, name=f"App {i}", type="self_hosted",
                                    domain=f"a{i}.corp.example")
        services.policy_create(actor=super_admin, name=f"P {i}", action="allow",
                               rules={"include": [{"type": "everyone"}]})
    client = client_for(auditor)
    for url in ("/access/applications/", "/access/policies/", "/access/sessions/", "/access/log/"):
        with django_assert_max_num_queries(10):
            assert client.get(url).status_code == 200


def test_impact_preview_lists_who_gains_and_loses_before_saving(client_for, security_admin, employee, make_user):
    engineering = GroupFactory(name="Engineering")
    engineering.members.add(employee)
    contractor = make_user("employee", email="contractor@vendor.example")
    app = services.application_create(actor=security_admin, name="Wiki", type="self_hosted",
                                      domain="wiki.corp.example")
    policy = services.policy_create(actor=security_admin, name="Staff", action="allow",
                                    rules={"include": [{"type": "email_domain", "values": ["corp.example"]}]})
    services.application_set_policies(actor=security_admin, application=app, policy_ids=[policy.pk])
    client = client_for(security_admin)
    # Edit: engineers only, plus the contractor's domain.
    response = client.post("/access/policies/impact/", {
        "policy_id": policy.pk, "name": "Staff", "action": "allow", "session_seconds": "",
        **rule_rows({"kind": "include", "type": "group", "values": "Engineering"},
                    {"kind": "include", "type": "email_domain", "values": "vendor.example"}),
    }, HTTP_HX_REQUEST="true")
    [impact] = response.context["impacts"]
    assert [u.email for u in impact.gained.users] == [contractor.email]
    lost = {u.email for u in impact.lost.users}
    assert employee.email not in lost and "sec@corp.example" in lost
    assert "would lose access" in response.content.decode()
    policy.refresh_from_db()
    assert policy.rules["include"][0]["type"] == "email_domain"  # nothing was saved
    assert not AuditEvent.objects.filter(action="access.policy.updated").exists()


def test_impact_preview_of_a_new_policy_against_an_application(client_for, security_admin, employee):
    app = services.application_create(actor=security_admin, name="Wiki", type="self_hosted",
                                      domain="wiki.corp.example")
    response = client_for(security_admin).post("/access/policies/impact/", {
        "name": "New", "action": "allow", "preview_application": app.pk,
        **rule_rows({"kind": "include", "type": "email", "values": employee.email}),
    }, HTTP_HX_REQUEST="true")
    [impact] = response.context["impacts"]
    assert [u.email for u in impact.gained.users] == [employee.email] and impact.lost.count == 0
    bad = client_for(security_admin).post("/access/policies/impact/", {
        "name": "New", "action": "allow", **rule_rows({"kind": "include", "type": "ip_range", "values": "x"}),
    }, HTTP_HX_REQUEST="true")
    assert "Some rules need fixing" in bad.content.decode()


def test_a_persons_page_links_their_sessions_and_devices(client_for, security_admin, hr_user, employee):
    app = services.application_create(actor=security_admin, name="Wiki", type="self_hosted",
                                      domain="wiki.corp.example")
    policy = services.policy_create(actor=security_admin, name="All", action="allow",
                                    rules={"include": [{"type": "everyone"}]})
    services.application_set_policies(actor=security_admin, application=app, policy_ids=[policy.pk])
    decisions.decide(application=app, source="api", issuer="http://t", user=employee)
    services.device_save(actor=security_admin, user=employee, device_id="d1", name="Work Mac", os="macOS",
                         managed=True)
    page = client_for(security_admin).get(f"/accounts/users/{employee.pk}/").content.decode()
    assert "1 active session" in page and "Work Mac" in page and 'data-testid="user-revoke-all"' in page
    client_for(security_admin).post(f"/access/users/{employee.pk}/sessions/revoke/")
    assert "0 active sessions" in client_for(security_admin).get(f"/accounts/users/{employee.pk}/").content.decode()
    assert "Access sessions" not in client_for(hr_user).get(f"/accounts/users/{employee.pk}/").content.decode()
