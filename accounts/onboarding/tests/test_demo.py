import pytest
from django.core import mail

from accounts.demo import seed_demo
from accounts.models import IdentityProvider
from accounts.onboarding.demo import seed_onboarding_demo
from accounts.onboarding.models import OnboardingCase

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_development_provider_and_two_cases_and_is_idempotent(settings,
                                                                              django_capture_on_commit_callbacks):
    settings.DEV_VERIFICATION_PROVIDER = True
    settings.DEV_VERIFICATION_PROVIDER_CLIENT_SECRET = "demo-secret"
    seed_demo(users=20)
    with django_capture_on_commit_callbacks(execute=True):
        assert seed_onboarding_demo() == {"providers": 1, "cases": 2}
    assert seed_onboarding_demo() == {"providers": 1, "cases": 0}
    idp = IdentityProvider.objects.get(slug="dev-verification")
    assert idp.development_only and idp.kind == "verification" and idp.client_secret == "demo-secret"
    statuses = dict(OnboardingCase.objects.values_list("legal_name", "status"))
    assert statuses == {"Jordan Rivera": "invited", "Morgan Blake": "failed"}
    assert len(mail.outbox) == 1 and "/onboarding/invite/" in mail.outbox[0].body


def test_without_the_development_provider_the_demo_seeds_no_onboarding(settings):
    settings.DEV_VERIFICATION_PROVIDER = False
    seed_demo(users=20)
    assert seed_onboarding_demo() == {"providers": 0, "cases": 0}
