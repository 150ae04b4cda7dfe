"""Setting up the web gateway: the organization CA (made once, key encrypted at rest, rotation
with an overlap), people's gateway credentials (shown once, hashed, revocable) and the pages
that hand out the CA, the PAC file and the credentials."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from cryptography import x509
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from console.audit.models import AuditEvent
from console.core.errors import PermissionRefused, ValidationFailed
from shadow_ai.gateway import ca, credentials
from shadow_ai.gateway.models import GatewayCA, GatewayCredential

pytestmark = pytest.mark.django_db


def test_the_first_gateway_makes_one_ca_with_its_key_encrypted_at_rest():
    first = ca.ca_ensure()
    assert ca.ca_ensure() == first  # later starts reuse it
    certificate = x509.load_pem_x509_certificate(first.certificate_pem.encode())
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert first.fingerprint_sha256 == ca.fingerprint(certificate)
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key_pem FROM shadow_ai_gatewayca WHERE id = %s", [first.pk])
        stored = cursor.fetchone()[0]
    assert "PRIVATE KEY" not in stored and "PRIVATE KEY" in GatewayCA.objects.get(pk=first.pk).private_key_pem
    assert AuditEvent.objects.filter(action="shadow_ai.gateway_ca.created", actor_email="").count() == 1


def test_a_rotation_publishes_the_next_ca_before_it_signs_then_retires_the_old_one(super_admin, settings):
    settings.GATEWAY_CA_OVERLAP_DAYS = 14
    old = ca.ca_ensure()
    GatewayCA.objects.filter(pk=old.pk).update(signs_from=timezone.now() - timedelta(days=300))
    new = ca.ca_rotate(actor=super_admin)
    assert ca.signing().pk == old.pk  # still signing: people install the next one meanwhile
    assert [c.pk for c in ca.trusted()] == [new.pk, old.pk]
    assert ca.bundle_pem() == new.certificate_pem + old.certificate_pem
    with pytest.raises(ValidationFailed, match="already under way"):
        ca.ca_rotate(actor=super_admin)

    GatewayCA.objects.filter(pk=new.pk).update(signs_from=timezone.now() - timedelta(days=1))
    assert ca.ca_ensure().pk == new.pk  # the overlap ended: gateways switch
    assert ca.signing().pk == new.pk and len(ca.trusted()) == 2  # the old one is still trusted a while
    GatewayCA.objects.filter(pk=new.pk).update(signs_from=timezone.now() - timedelta(days=15))
    ca.ca_ensure()
    assert [c.pk for c in ca.trusted()] == [new.pk]
    assert AuditEvent.objects.filter(action="shadow_ai.gateway_ca.retired", object_id=str(old.pk)).exists()
    assert AuditEvent.objects.get(action="shadow_ai.gateway_ca.created", object_id=str(new.pk)).actor_email == \
        super_admin.email


def test_only_admins_rotate(auditor):
    ca.ca_ensure()
    with pytest.raises(PermissionRefused):
        ca.ca_rotate(actor=auditor)


def test_a_credential_is_shown_once_stored_hashed_and_revocable(employee, make_user, security_admin):
    credential, token = credentials.gateway_credential_create(actor=employee, name="  Work laptop  ")
    assert credential.name == "Work laptop" and token.startswith(f"ztg_{credential.prefix}_")
    assert token.rsplit("_", 1)[1] not in credential.secret_hash
    header = "Basic " + base64.b64encode(f"anyone:{token}".encode()).decode()
    found = credentials.authenticate(credentials.basic_password(header))
    assert found is not None and found.user_id == employee.pk
    assert credentials.authenticate(token[:-1] + "x") is None
    assert credentials.authenticate("ztc_" + token[4:]) is None
    assert credentials.basic_password("Bearer " + token) == ""

    other = make_user(email="mallory@corp.example")
    with pytest.raises(PermissionRefused):
        credentials.gateway_credential_revoke(actor=other, credential=credential)
    assert credentials.gateway_credential_revoke(actor=security_admin, credential=credential)
    assert not credentials.gateway_credential_revoke(actor=employee, credential=credential)
    assert credentials.authenticate(token) is None
    assert [e.action for e in AuditEvent.objects.filter(object_id=str(credential.pk),
                                                         object_type="shadow_ai.gatewaycredential")
            .order_by("id")] == ["shadow_ai.gateway_credential.created", "shadow_ai.gateway_credential.revoked"]


def test_a_deactivated_person_credential_no_longer_works(employee):
    _, token = credentials.gateway_credential_create(actor=employee, name="Phone")
    employee.is_active = False
    employee.save(update_fields=["is_active"])
    assert credentials.authenticate(token) is None


def test_a_person_holds_a_bounded_number_of_credentials(employee):
    for n in range(credentials.MAX_ACTIVE):
        credentials.gateway_credential_create(actor=employee, name=f"Browser {n}")
    with pytest.raises(ValidationFailed, match="revoke one"):
        credentials.gateway_credential_create(actor=employee, name="One too many")


def test_the_setup_page_creates_a_credential_shown_once_and_lists_it(client_for, employee):
    ca.ca_ensure()
    client = client_for(employee)
    page = client.get(reverse("shadow_ai:gateway-mine")).content.decode()
    assert "No gateway credentials yet" in page and ca.signing().fingerprint_sha256 in page
    assert "/shadow-ai/gateway/proxy.pac" in page
    created = client.post(reverse("shadow_ai:gateway-mine"), {"name": "Work laptop, Firefox"})
    token = created.context["token"]
    assert token in created.content.decode() and "will not be shown again" in created.content.decode()
    again = client.get(reverse("shadow_ai:gateway-mine")).content.decode()
    assert "Work laptop, Firefox" in again and token not in again
    empty = client.post(reverse("shadow_ai:gateway-mine"), {"name": ""})
    assert "This field is required" in empty.content.decode()
    assert GatewayCredential.objects.filter(user=employee).count() == 1


def test_people_revoke_only_their_own_credentials(client_for, employee, make_user):
    mine, _ = credentials.gateway_credential_create(actor=employee, name="Laptop")
    someone = make_user(email="sam@corp.example")
    theirs, _ = credentials.gateway_credential_create(actor=someone, name="Sam's laptop")
    client = client_for(employee)
    url = reverse("shadow_ai:gateway-credential-revoke", args=[theirs.pk])
    assert client.post(url).status_code == 404
    response = client.post(reverse("shadow_ai:gateway-credential-revoke", args=[mine.pk]))
    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None


def test_ca_downloads_and_the_pac_file(client_for, employee, client, settings):
    settings.GATEWAY_PROXY_ADDRESS = "gateway.corp.example:3128"
    settings.CONSOLE_URL = "https://console.corp.example"
    signing = ca.ca_ensure()
    signed_in = client_for(employee)
    bundle = signed_in.get(reverse("shadow_ai:gateway-ca-bundle"))
    assert bundle.content.decode() == signing.certificate_pem
    der = signed_in.get(reverse("shadow_ai:gateway-ca-certificate", args=[signing.pk])).content
    assert x509.load_der_x509_certificate(der).fingerprint(ca.hashes.SHA256()).hex(":").upper() == \
        signing.fingerprint_sha256
    assert b"PRIVATE" not in bundle.content and b"PRIVATE" not in der
    pac = client.get(reverse("shadow_ai:gateway-pac"))  # browsers fetch it without a session
    assert pac["Content-Type"] == "application/x-ns-proxy-autoconfig"
    body = pac.content.decode()
    assert 'return "PROXY gateway.corp.example:3128";' in body and 'host === "console.corp.example"' in body


def test_the_admin_page_lists_the_cas_and_rotates(client_for, super_admin, auditor):
    ca.ca_ensure()
    page = client_for(auditor).get(reverse("shadow_ai:gateway-admin")).content.decode()
    assert "Signing" in page and "Rotate the CA" not in page
    assert client_for(auditor).post(reverse("shadow_ai:gateway-ca-rotate")).status_code == 403
    admin = client_for(super_admin)
    assert admin.post(reverse("shadow_ai:gateway-ca-rotate")).status_code == 302
    page = admin.get(reverse("shadow_ai:gateway-admin")).content.decode()
    assert "Signing" in page and "Next" in page and "Rotate the CA" in page


def test_the_health_page_tells_running_silent_and_absent_gateways_apart(client_for, auditor):
    from console.core.models import Heartbeat
    from console.core.services import heartbeat_record
    from console.health import check_gateways

    assert check_gateways().ok and "No web gateway has run" in check_gateways().summary
    heartbeat_record(key="gateway:gw1:100", detail={"listen": "0.0.0.0:8080", "policies_version": "12/ab12cd34",
                                                     "requests": 5000, "rate_per_second": 812.5,
                                                     "log": {"pending": 3, "dropped": 0}, "fail_mode": "closed"})
    check = check_gateways()
    assert check.ok and check.summary == "1 gateway process(es) running"
    assert check.details == ["gw1:100 on 0.0.0.0:8080: policies version 12/ab12cd34, 812.5 requests/s, 5000 since "
                             "start, log queue 3 (dropped 0), fails closed"]
    page = client_for(auditor).get(reverse("console:health")).content.decode()
    assert "Web gateways" in page and "812.5 requests/s" in page
    Heartbeat.objects.filter(key="gateway:gw1:100").update(last_seen=timezone.now() - timedelta(minutes=5))
    silent = check_gateways()
    assert not silent.ok and "silent since" in silent.details[0]
