import pytest

from conftest import PASSWORD, mark_mfa_verified
from console.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def sign_in(client, email, password, ip="198.51.100.7"):
    return client.post("/accounts/login/", {"username": email, "password": password}, REMOTE_ADDR=ip)


def test_password_sign_in_sends_admins_to_the_overview_and_employees_to_the_launcher(client, security_admin, employee):
    from conftest import TEST_TOTP_SECRET, current_totp_code
    from mfa.models import TotpAuthenticator

    TotpAuthenticator.objects.create(user=security_admin, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    response = sign_in(client, "SEC@corp.example", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/")["Location"] == "/mfa/verify/?next=/"  # console MFA first
    verified = client.post("/mfa/verify/?next=/", {"method": "totp", "code": current_totp_code(security_admin),
                                                   "next": "/"})
    assert verified["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    sign_in(client, employee.email, PASSWORD)
    assert client.get("/")["Location"] == "/launcher/"
    logins = AuditEvent.objects.filter(action="auth.login").values_list("actor_email", flat=True)
    assert set(logins) == {"sec@corp.example", "emp@corp.example"}
    assert AuditEvent.objects.filter(action="auth.logout", actor_email="sec@corp.example").exists()


def test_a_wrong_password_says_so_and_is_audited(client, employee):
    response = sign_in(client, employee.email, "wrong-password")
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content
    row = AuditEvent.objects.get(action="auth.login_failed")
    assert row.object_repr == employee.email
    assert row.ip == "198.51.100.7"


def test_five_failures_lock_the_account_from_that_address_and_the_lockout_is_audited(client, employee, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, employee.email, "wrong-password")
    response = sign_in(client, employee.email, PASSWORD)
    assert response.status_code == 429
    assert b"Sign-in paused" in response.content
    # One lockout is one event; attempts refused while it lasts are recorded as blocked.
    assert AuditEvent.objects.filter(action="auth.lockout", object_repr=employee.email).count() == 1
    sign_in(client, employee.email, PASSWORD)
    assert AuditEvent.objects.filter(action="auth.lockout").count() == 1
    assert AuditEvent.objects.filter(action="auth.login_blocked", object_repr=employee.email).count() == 2
    # Another address is not locked out by someone guessing from the first one.
    assert sign_in(client, employee.email, PASSWORD, ip="192.0.2.44").status_code == 302


def test_an_admin_clears_a_lockout(client, client_for, employee, security_admin, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, employee.email, "wrong-password")
    admin = client_for(security_admin)
    page = admin.get(f"/accounts/users/{employee.pk}/")
    assert b"Sign-in is locked" in page.content
    admin.post(f"/accounts/users/{employee.pk}/unlock/")
    assert AuditEvent.objects.filter(action="user.unlocked").exists()
    admin.post("/accounts/logout/")
    assert sign_in(client, employee.email, PASSWORD).status_code == 302


def test_one_address_trying_many_accounts_is_slowed_down(client, settings, make_user):
    settings.LOGIN_RATE_LIMIT_PER_IP = 3
    for i in range(3):
        assert sign_in(client, f"nobody{i}@corp.example", "x", ip="203.0.113.50").status_code == 200
    response = sign_in(client, "nobody9@corp.example", "x", ip="203.0.113.50")
    # A different address is not affected.
    assert sign_in(client, "nobody9@corp.example", "x", ip="203.0.113.51").status_code == 200
    assert response.status_code == 429
    assert "Retry-After" in response


def test_a_deactivated_users_session_stops_working(client, client_for, employee, security_admin):
    sign_in(client, employee.email, PASSWORD)
    assert client.get("/launcher/").status_code == 200
    from accounts.services.people import user_deactivate

    user_deactivate(actor=security_admin, user=employee)
    response = client.get("/launcher/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert sign_in(client, employee.email, PASSWORD).status_code == 200


def test_pages_carry_a_strict_content_security_policy_and_no_inline_script(client, super_admin):
    client.force_login(super_admin, backend="django.contrib.auth.backends.ModelBackend")
    mark_mfa_verified(client, super_admin)
    for url in ["/", "/accounts/users/", "/audit/", "/system/health/", "/accounts/login/"]:
        response = client.get(url, follow=True)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        html = response.content.decode()
        assert "<script>" not in html and " style=" not in html and "onclick" not in html
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_changing_the_case_of_the_e_mail_does_not_escape_a_lockout(client, employee, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, employee.email.upper() if i % 2 else employee.email, "wrong-password")
    assert sign_in(client, "Emp@Corp.Example", PASSWORD).status_code == 429
