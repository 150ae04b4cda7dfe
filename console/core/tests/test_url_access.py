"""Walks every URL of the project as each role and as an anonymous visitor.

Each view declares who may open it (``console.core.permissions``); this test reads that
declaration, so a new URL is covered the moment it is added, and a view without a declaration
fails the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import IdentityProvider
from accounts.tests.factories import GroupFactory, UserFactory
from conftest import mark_mfa_verified
from console.audit.services import audit_record
from console.core.models import WorkerCheck
from console.core.permissions import API, PUBLIC
from console.core.roles import Role

pytestmark = pytest.mark.django_db


def walk(patterns, namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            yield from walk(entry.url_patterns, f"{namespace}{ns}:" if ns else namespace)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}", entry


@pytest.fixture
def sample_kwargs(super_admin) -> dict[str, object]:
    group = GroupFactory()
    person = UserFactory()
    idp = IdentityProvider.objects.create(
        name="Sample IdP", slug="sample", issuer="https://idp.example", client_id="c",
        client_secret="s", authorization_endpoint="https://idp.example/auth",
    )
    from accounts.models import IdentityProviderLink

    idp_link = IdentityProviderLink.objects.create(provider=idp, user=person, subject="sample-sub", proof="session")
    event = audit_record(actor=super_admin, action="sample.event", obj=group)
    check = WorkerCheck.objects.create(requested_from_pid=1)
    from datetime import timedelta

    from django.utils import timezone

    from console.access.models import AccessSession, ApiToken, Application, Device, Policy, ServiceToken

    app = Application.objects.create(name="Wiki", domain="wiki.corp.example")
    policy = Policy.objects.create(name="Staff", rules={"include": [{"type": "everyone"}]})
    token = ServiceToken.objects.create(name="ci", client_id="x.access", secret_hash="h")
    ApiToken.objects.create(name="proxy", prefix="abc", secret_hash="h", scopes=["access:decide"])
    device = Device.objects.create(user=person, device_id="d-1", name="Laptop", os="macOS")
    session = AccessSession.objects.create(user=person, application=app,
                                           expires_at=timezone.now() + timedelta(hours=1))
    from risk.models import AuthEvent, IngestBatch, RescoreRun, TelemetrySource

    source = TelemetrySource.objects.create(name="Logpush", kind="access_requests", prefix="p1", secret_hash="h")
    batch = IngestBatch.objects.create(source=source, kind=source.kind)
    sign_in = AuthEvent.objects.create(event_key="k1", at=timezone.now(), email=person.email, user=person,
                                       allowed=True)
    run = RescoreRun.objects.create()
    from risk.ssf.models import Delivery, Stream, StreamSubject

    stream = Stream.objects.create(issuer="http://testserver", audience=["https://rx.example"])
    subject = StreamSubject.objects.create(stream=stream, key="email:a@corp.example", subject={})
    outbox_row = Delivery.objects.create(stream=stream, event_type="x", claims={})
    from accounts.onboarding.models import OnboardingCase, OutboxMessage

    case = OnboardingCase.objects.create(
        legal_name="Sam Sample", personal_email="sam@home.example", work_email="sam@corp.example",
        start_date=timezone.localdate(), invitation_token_hash="h" * 64,
        invitation_expires_at=timezone.now() + timedelta(days=1),
    )
    message = OutboxMessage.objects.create(to="sam@home.example", from_email="c@x", subject="Hi", body="Hello")
    from shadow_ai.models import Application as LibraryApplication
    from shadow_ai.models import ApplicationHostname, GatewayPolicy

    library_app = LibraryApplication.objects.create(key="custom-sample", name="Sample SaaS", category="business")
    ApplicationHostname.objects.create(application=library_app, hostname="sample-saas.example")
    gateway_policy = GatewayPolicy.objects.create(
        name="Sample gateway policy", position=1, action="block",
        conditions=[{"type": "status", "operator": "in", "values": ["unapproved"]}],
    )
    from shadow_ai.casb.models import Finding, FindingInstance, Integration, ScanRun

    integration = Integration.objects.create(name="Sample CASB", vendor="openai", credentials='{"admin_api_key": "k"}')
    scan_run = ScanRun.objects.create(integration=integration, status="succeeded")
    finding = Finding.objects.create(integration=integration, type_key="openai.stale_pending_invite",
                                     title="OpenAI: Stale pending invite", vendor="OpenAI", severity=1)
    instance = FindingInstance.objects.create(finding=finding, key="invite:1", asset="a@corp.example")
    from shadow_ai.usage.models import UsageRollupRun

    usage_run = UsageRollupRun.objects.create(kind="manual")
    from shadow_ai.dlp.models import DlpEntry, DlpProfile

    dlp_profile = DlpProfile.objects.create(name="Sample DLP profile")
    dlp_entry = DlpEntry.objects.create(profile=dlp_profile, kind="regex", name="Project code", pattern=r"PRJ-\d{6}")
    from console.access.idp.services import machine_client_create

    oauth_client, _ = machine_client_create(actor=super_admin, name="Sample receiver", scopes=["ssf.read"])
    from shadow_ai.gateway import ca as gateway_ca
    from shadow_ai.gateway.models import GatewayCredential

    signing_ca = gateway_ca.ca_ensure()
    gateway_credential = GatewayCredential.objects.create(user=person, name="Laptop", prefix="p1", secret_hash="h")
    return {
        "client_pk": oauth_client.pk,
        "integration_id": integration.pk, "scan_run_id": scan_run.pk, "finding_id": finding.pk,
        "instance_id": instance.pk, "vendor": "openai",
        "stream_pk": stream.pk, "stream_id": stream.stream_id, "subject_id": subject.pk, "delivery_id": outbox_row.pk,
        "case_id": case.pk, "message_id": message.pk, "token": "sample-invitation-token",
        "user_id": person.pk, "group_id": group.pk, "idp_id": idp.pk, "event_id": event.pk,
        "check_id": check.pk, "slug": idp.slug, "app_id": app.pk, "policy_id": policy.pk,
        "token_id": token.pk, "device_id": device.pk, "session_id": session.pk,
        "run_id": run.pk, "key": "impossible_travel", "source_id": source.pk, "kind": "auth",
        "row_id": sign_in.pk, "batch_id": batch.pk,
        "library_app_id": library_app.pk, "gateway_policy_id": gateway_policy.pk, "usage_run_id": usage_run.pk,
        "profile_id": dlp_profile.pk, "entry_id": dlp_entry.pk,
        "link_id": idp_link.pk, "rest": "docs/page",
        "gateway_ca_id": signing_ca.pk, "gateway_credential_id": gateway_credential.pk,
    }


def all_urls(sample_kwargs) -> list[tuple[str, str, object]]:
    urls = []
    for name, pattern in walk(get_resolver().url_patterns):
        assert pattern.name, f"URL {pattern.pattern} has no name"
        params = list(pattern.pattern.converters)
        kwargs = {p: sample_kwargs[p] for p in params}
        access = getattr(pattern.callback, "console_access", None)
        urls.append((name, reverse(name, kwargs=kwargs), access))
    return urls


def test_every_view_declares_who_may_open_it(sample_kwargs):
    missing = [name for name, _, access in all_urls(sample_kwargs) if access is None]
    assert not missing, f"views without roles_required/public: {missing}"
    assert len(all_urls(sample_kwargs)) >= 30


# Public views whose 403 is a decision: forward-auth refusing a request no application covers,
# and the block page it leads to.
PUBLIC_REFUSALS = {"api:access-forward-auth", "api:access-forward-auth-root", "api:access-forward-auth-path",
                   "access-app:blocked"}


def test_anonymous_visitors_are_sent_to_sign_in(client, sample_kwargs):
    for name, url, access in all_urls(sample_kwargs):
        response = client.get(url)
        if access == PUBLIC:
            assert response.status_code != 500, name
            assert response.status_code != 403 or name in PUBLIC_REFUSALS, name
            continue
        if access == API:
            assert response.status_code in (401, 405), f"{name} answered {response.status_code}"
            continue
        assert response.status_code == 302, f"{name} answered {response.status_code}"
        assert response["Location"].startswith("/accounts/login/?next="), name


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_exactly_what_its_views_allow(client, sample_kwargs, make_user, role):
    user = make_user(role, email=f"walker-{role}@corp.example")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    mark_mfa_verified(client, user)  # console MFA passed: the walk is about roles
    checked = 0
    for name, url, access in all_urls(sample_kwargs):
        if access in (PUBLIC, API) or name == "accounts:logout":
            continue
        response = client.get(url)
        if role in access:
            body = b"".join(response.streaming_content) if response.streaming else response.content
            refused = response.status_code == 403 and b"You do not have access to this page" in body
            assert not refused, f"{role} was refused {name}"
            # 403 without the refusal page is a decision about the object (a launch denied by policy).
            assert response.status_code in (200, 302, 403, 404, 405), f"{role} on {name}: {response.status_code}"
            assert b"{#" not in body and b"{%" not in body and b"{{" not in body, f"template syntax leaks on {name}"
            if response.status_code == 302:
                assert not response["Location"].startswith("/accounts/login/"), f"{role} on {name}"
        else:
            assert response.status_code == 403, f"{role} should be refused {name}, got {response.status_code}"
            assert b"You do not have access to this page" in response.content
        checked += 1
    assert checked > 25


def test_employees_reach_only_the_launcher(client, employee, sample_kwargs):
    client.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    allowed = [
        name for name, url, access in all_urls(sample_kwargs)
        if access not in (PUBLIC, API) and Role.EMPLOYEE in access
    ]
    assert sorted(allowed) == [
        "access:app-logo", "access:launch", "access:proxy-sign-in", "access:sign-out-everywhere",
        "console:home", "console:launcher",
        "mfa:backup-codes", "mfa:devices", "mfa:remove", "mfa:rename", "mfa:totp-setup", "mfa:verify",
        "mfa:webauthn-register-complete", "mfa:webauthn-register-options", "mfa:webauthn-verify-complete",
        "mfa:webauthn-verify-options", "onboarding:finish", "onboarding:portal",
        "onboarding:recover-old", "onboarding:replace-authenticators", "onboarding:verify",
        "shadow_ai:gateway-ca-bundle", "shadow_ai:gateway-ca-certificate", "shadow_ai:gateway-credential-revoke",
        "shadow_ai:gateway-mine",
    ]
    assert client.get(reverse("console:home"))["Location"] == reverse("console:launcher")
