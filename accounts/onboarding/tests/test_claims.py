"""The pure claims check: data in, a result naming the failed check out."""

import pytest

from accounts.onboarding.claims import ClaimMapping, check_claims, claim_at, meets_level

MAPPING = ClaimMapping(email_claim="email", verified_claim="identity_verified",
                       assurance_claim="verification_level", levels=("low", "medium", "high"), min_level="medium")
GOOD = {"email": "Ada@Corp.example", "identity_verified": True, "verification_level": "high"}


def test_a_verified_person_at_a_high_enough_level_passes():
    result = check_claims(GOOD, MAPPING, expected_email="ada@corp.example")
    assert result.ok and result.level == "high"
    assert result.mapped == {"email": "ada@corp.example", "identity_verified": True, "verification_level": "high"}


@pytest.mark.parametrize(("claims", "check", "reason"), [
    ({**GOOD, "identity_verified": False}, "verified_claim", "The identity_verified claim is False"),
    ({**GOOD, "identity_verified": "yes"}, "verified_claim", "is yes"),
    ({"email": "ada@corp.example", "verification_level": "high"}, "verified_claim", "is missing"),
    ({**GOOD, "email": "eve@corp.example"}, "email", "is eve@corp.example, not the work e-mail ada@corp.example"),
    ({**GOOD, "verification_level": "low"}, "assurance_level", "is low; the minimum accepted is medium"),
    ({**GOOD, "verification_level": "extreme"}, "assurance_level", "is extreme"),
    ({k: v for k, v in GOOD.items() if k != "verification_level"}, "assurance_level", "is missing"),
])
def test_each_failure_names_its_check(claims, check, reason):
    result = check_claims(claims, MAPPING, expected_email="ada@corp.example")
    assert not result.ok and result.failed_check == check
    assert reason in result.reason
    assert result.user_message and "claim" not in result.user_message


def test_the_verified_flag_may_be_the_text_true_and_checks_run_in_order():
    assert check_claims({**GOOD, "identity_verified": "TRUE"}, MAPPING, expected_email="ada@corp.example").ok
    both = check_claims({**GOOD, "identity_verified": False, "email": "x@y.example"}, MAPPING,
                        expected_email="ada@corp.example")
    assert both.failed_check == "verified_claim"


def test_nested_claims_and_numeric_levels():
    mapping = ClaimMapping(verified_claim="verification.status_ok", assurance_claim="verification.ial",
                           levels=("1", "2", "3"), min_level="2")
    claims = {"email": "a@b.example", "verification": {"status_ok": True, "ial": 2}}
    assert check_claims(claims, mapping, expected_email="a@b.example").ok
    claims["verification"]["ial"] = 1
    assert check_claims(claims, mapping, expected_email="a@b.example").failed_check == "assurance_level"
    assert claim_at(claims, "verification.missing.deeper") is None
    assert meets_level("10", "9", ("1", "2")) and not meets_level("medium", "high", ("low", "medium", "high"))


def test_no_level_claim_means_no_level_check_and_no_expected_email_means_no_email_check():
    mapping = ClaimMapping(assurance_claim="", min_level="high")
    assert check_claims({"identity_verified": True}, mapping, expected_email=None).ok
