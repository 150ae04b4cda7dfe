"""The context around a match hides every sensitive value the predefined entries recognise, not
only those of the profile being scanned: a card number beside an AWS secret key stays hidden in
the context of a "Credentials and Secrets" match, in the engine, the Test text panel and the
samples a CASB finding keeps."""

from __future__ import annotations

import pytest

from shadow_ai.casb.connectors.base import DlpCheck
from shadow_ai.dlp import engine
from shadow_ai.dlp.models import DlpProfile

CARD = "4111 1111 1111 1111"
SSN = "123-45-6789"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"  # built from pieces: no scanner flags this file
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
TEXT = f"billing card {CARD} ssn {SSN}\naws_secret_access_key = {AWS_SECRET}\nid {AWS_KEY_ID}"


def _profile(category: str, *, without: tuple[str, ...] = ()) -> engine.Profile:
    entries = tuple(e for e in engine.PREDEFINED_ENTRIES if e.category == category and e.key not in without)
    return engine.Profile(id=category, name=category, entries=entries)


def _leaks(dumped: str, *values: str) -> list[str]:
    return [v for v in values if v in dumped or v.replace(" ", "") in dumped]


def test_context_of_a_secret_hides_a_card_number_outside_the_profile():
    result = engine.scan(TEXT, [_profile(engine.SECRETS)])[0]
    assert result.triggered and {m.entry_key for m in result.matches} == {"aws_secret_access_key", "aws_access_key_id"}
    secret = next(m for m in result.matches if m.entry_key == "aws_secret_access_key")
    assert "XXXX XXXX XXXX XXXX" in secret.before and "XXX-XX-XXXX" in secret.before
    assert _leaks(repr(result), CARD, SSN, AWS_SECRET, AWS_KEY_ID[4:]) == []


def test_context_of_a_card_hides_a_secret_outside_the_profile():
    result = engine.scan(TEXT, [_profile(engine.FINANCIAL)])[0]
    assert [m.entry_key for m in result.matches] == ["card_visa"]
    assert _leaks(repr(result), CARD, SSN, AWS_SECRET, "EXAMPLEKEY") == []


def test_an_entry_switched_off_in_the_profile_is_still_hidden_in_context():
    result = engine.scan(TEXT, [_profile(engine.SECRETS, without=("aws_access_key_id",))])[0]
    assert [m.entry_key for m in result.matches] == ["aws_secret_access_key"]
    assert AWS_KEY_ID not in repr(result) and result.matches[0].after == "\nid " + "X" * 20


def test_without_a_reported_match_no_other_entry_runs(monkeypatch):
    calls = []
    original = engine._find
    monkeypatch.setattr(engine, "_find", lambda entry, data: calls.append(entry.key) or original(entry, data))
    engine.scan("nothing to see", [_profile(engine.SECRETS)])
    assert set(calls) == {e.key for e in _profile(engine.SECRETS).entries}
    calls.clear()
    engine.scan(TEXT, [_profile(engine.SECRETS)], max_reported=0)  # the gateway: counts only
    assert set(calls) == {e.key for e in _profile(engine.SECRETS).entries}


def test_casb_samples_keep_no_other_secret():
    check = DlpCheck(profiles=(_profile(engine.SECRETS),), max_bytes=1_000_000)
    details = DlpCheck.details(check.scan(TEXT))
    assert details["dlp_matches"] == 2
    assert _leaks(repr(details), CARD, SSN, AWS_SECRET, AWS_KEY_ID[4:]) == []


@pytest.mark.django_db
def test_the_test_text_panel_hides_a_card_beside_an_aws_secret(client_for, auditor, caplog):
    profile = DlpProfile.objects.get(key="credentials_and_secrets")
    response = client_for(auditor).post(f"/shadow-ai/dlp/profiles/{profile.pk}/test/", {"text": TEXT},
                                        headers={"HX-Request": "true"})
    page = response.content.decode()
    assert response.status_code == 200 and 'data-triggered="true"' in page
    assert "XXXX XXXX XXXX XXXX" in page
    assert _leaks(page, CARD, SSN, AWS_SECRET, AWS_KEY_ID[4:]) == []
    assert _leaks(caplog.text, CARD, SSN, AWS_SECRET, AWS_KEY_ID[4:]) == []
