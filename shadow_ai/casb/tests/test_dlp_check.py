"""CASB scans and DLP: an integration's DLP profiles reach its connector as plain engine profiles,
and what a finding keeps of a match is redacted."""

from __future__ import annotations

import pytest

from shadow_ai.casb.connectors.base import DlpCheck
from shadow_ai.casb.models import Integration
from shadow_ai.casb.scanner import dlp_check
from shadow_ai.dlp.models import DlpProfile

pytestmark = pytest.mark.django_db

CARD = "4111 1111 1111 1111"
TEXT = f"Invoice for ACME. Card number {CARD}, expires 12/29. Thanks!"


def test_an_integration_without_profiles_scans_no_contents():
    integration = Integration.objects.create(name="OpenAI", vendor="openai")
    assert dlp_check(integration) is None


def test_the_integrations_profiles_are_compiled_and_only_triggered_ones_reported(settings):
    settings.CASB_DLP_MAX_BYTES = 4096
    integration = Integration.objects.create(name="OpenAI", vendor="openai")
    financial = DlpProfile.objects.get(name="Financial Information")
    secrets = DlpProfile.objects.get(name="Credentials and Secrets")
    integration.dlp_profiles.set([financial, secrets])
    check = dlp_check(integration)
    assert check is not None and check.max_bytes == 4096
    assert {p.name for p in check.profiles} == {"Financial Information", "Credentials and Secrets"}
    results = check.scan(TEXT)
    assert [r.profile_name for r in results] == ["Financial Information"]
    details = DlpCheck.details(results)
    assert details["dlp_profiles"] == ["Financial Information"] and details["dlp_matches"] >= 1
    sample = details["dlp_samples"][0]
    assert sample["match"] == "XXXX XXXX XXXX XXXX" and CARD not in str(details)
    assert "Invoice for ACME" in sample["context"]
    assert check.scan("Nothing to see here.") == []
