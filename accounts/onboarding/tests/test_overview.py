"""HR's Overview shows onboarding: cases in progress, failed ones and new hires activated in the
last seven days, each linking to the list filtered to exactly those cases."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.onboarding.models import OnboardingCase

pytestmark = pytest.mark.django_db

S = OnboardingCase.Status


def _case(n: int, status: str, **fields) -> OnboardingCase:
    return OnboardingCase.objects.create(
        legal_name=f"New Hire {n}", personal_email=f"hire{n}@home.example", work_email=f"hire{n}@corp.example",
        start_date=timezone.localdate(), invitation_token_hash=f"{n:064d}",
        invitation_expires_at=timezone.now() + timedelta(days=7), status=status, **fields)


@pytest.fixture
def cases() -> None:
    now = timezone.now()
    _case(1, S.INVITED)
    _case(2, S.PENDING)
    _case(3, S.VERIFIED)
    _case(4, S.FAILED, failed_at=now)
    _case(5, S.ACTIVATED, activated_at=now - timedelta(days=2))
    _case(6, S.ACTIVATED, activated_at=now - timedelta(days=30))
    _case(7, S.CANCELLED)


def _tile(text: str, testid: str) -> tuple[str, str]:
    match = re.search(r'<a class="stat[^"]*" href="([^"]+)"><span class="stat-value" data-testid="'
                      + testid + r'">(\d+)</span>', text)
    assert match, testid
    return match.group(1).replace("&amp;", "&"), match.group(2)


def test_hr_sees_onboarding_on_the_overview_and_each_tile_lists_what_it_counts(client_for, hr_user, cases):
    client = client_for(hr_user)
    text = client.get("/").content.decode()
    assert 'data-testid="overview-onboarding"' in text
    for testid, count, names in (("onboarding-open", "3", {"New Hire 1", "New Hire 2", "New Hire 3"}),
                                 ("onboarding-failed", "1", {"New Hire 4"}),
                                 ("onboarding-activated", "1", {"New Hire 5"})):
        link, shown = _tile(text, testid)
        assert shown == count, testid
        listed = set(re.findall(r"New Hire \d", client.get(link).content.decode()))
        assert listed == names, (testid, link)


def test_the_overview_counts_nothing_when_there_is_no_onboarding(client_for, auditor):
    text = client_for(auditor).get("/").content.decode()
    assert [_tile(text, t)[1] for t in ("onboarding-open", "onboarding-failed", "onboarding-activated")] == [
        "0", "0", "0"]
