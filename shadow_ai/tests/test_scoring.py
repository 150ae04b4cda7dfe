"""The two confidence rubrics against values computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shadow_ai import scoring

FULL_SAAS = {
    "soc2": True, "iso27001": True, "data_retention": "customer_controlled", "third_party_sharing": "processors_only",
    "mfa": True, "sso": True, "tls13": True, "rbac": True, "session_monitoring": True,
    "trust_page": True, "bug_bounty": True, "incident_transparency": True, "recent_material_breach": False,
    "financial_standing": "public",
}


def points(result: scoring.ScoreResult) -> dict[str, float]:
    return {c.key: round(c.points, 4) for c in result.components}


def test_the_weights_are_the_reference_s():
    assert [(c.label, c.points) for c in scoring.SAAS.components] == [
        ("Security & Privacy Compliance", 1.2), ("Data Management Practices", 1.0), ("Security Controls", 1.0),
        ("Security Reports & Incident History", 1.0), ("Financial Stability", 0.8),
    ]
    assert [(c.label, c.points) for c in scoring.GEN_AI.components] == [
        ("Compliance", 1.0), ("Deployment Security Model", 1.0), ("System Card", 1.0),
        ("Training Data Governance", 2.0),
    ]
    assert sum(c.points for c in scoring.SAAS.components) == pytest.approx(5.0)
    assert sum(c.points for c in scoring.GEN_AI.components) == pytest.approx(5.0)


def test_everything_known_and_good_scores_five():
    result = scoring.score(scoring.SAAS, FULL_SAAS)
    assert result.score == Decimal("5.0")
    assert (result.known, result.total) == (14, 14)


def test_a_mixed_saas_record_by_hand():
    # compliance: SOC 2 only = 0.6; data: documented 0.25 + processors 0.5 = 0.75;
    # controls: MFA, SSO, TLS 1.3 of five = 0.6; reports: trust page + bug bounty = 2/3;
    # financial: other private = 0.4. Total 3.0167 -> 3.0.
    evidence = {"soc2": True, "iso27001": False, "data_retention": "documented",
                "third_party_sharing": "processors_only", "mfa": True, "sso": True, "tls13": True, "rbac": False,
                "trust_page": True, "bug_bounty": True, "financial_standing": "private", "scim": True}
    result = scoring.score(scoring.SAAS, evidence)
    assert points(result) == {"compliance": 0.6, "data_management": 0.75, "security_controls": 0.6,
                              "security_reports": 0.6667, "financial_stability": 0.4}
    assert result.score == Decimal("3.0")
    assert result.exact == pytest.approx(3.01667, abs=1e-4)
    # session monitoring, incident transparency and breach history are unknown; SCIM is not scored.
    assert (result.known, result.total) == (11, 14)
    controls = next(c for c in result.components if c.key == "security_controls")
    assert controls.explanation == "Has MFA, SSO, TLS 1.3; lacks RBAC; unknown: session monitoring."
    scim = next(f for f in controls.fields if f.key == "scim")
    assert (scim.scored, scim.display) == (False, "Yes")


def test_a_recent_material_breach_zeroes_its_category_only():
    result = scoring.score(scoring.SAAS, {**FULL_SAAS, "recent_material_breach": True})
    assert points(result)["security_reports"] == 0.0
    assert result.score == Decimal("4.0")
    reports = next(c for c in result.components if c.key == "security_reports")
    assert reports.explanation == "A recent material breach: full deduction."


def test_both_one_or_no_certification():
    def compliance(e):
        return points(scoring.score(scoring.SAAS, e))["compliance"]

    assert compliance({"soc2": True, "iso27001": True}) == 1.2
    assert compliance({"soc2": False, "iso27001": True}) == 0.6
    assert compliance({"soc2": False, "iso27001": False}) == 0.0


def test_gen_ai_rubric_by_hand():
    # ISO 42001 unknown 0; authenticated access no, rate limiting yes = 0.5; system card 1.0;
    # opt-out training = 1.0. Total 2.5.
    evidence = {"authenticated_access": False, "rate_limiting": True, "system_card": True,
                "training_on_customer_data": "opt_out"}
    result = scoring.score(scoring.GEN_AI, evidence)
    assert points(result) == {"ai_compliance": 0.0, "deployment_security": 0.5, "system_card": 1.0,
                              "training_data": 1.0}
    assert result.score == Decimal("2.5")
    assert (result.known, result.total) == (4, 5)
    assert scoring.score(scoring.GEN_AI, {**evidence, "training_on_customer_data": "excluded",
                                          "iso42001": True}).score == Decimal("4.5")
    assert scoring.score(scoring.GEN_AI, {**evidence, "training_on_customer_data": "used"}).score == Decimal("1.5")
    assert scoring.score(scoring.GEN_AI, {**evidence, "training_on_customer_data": "opt_in"}).score == Decimal("2.5")


def test_nothing_known_is_not_scored_rather_than_zero():
    result = scoring.score(scoring.SAAS, {})
    assert result.score is None and result.known == 0
    assert all(not f.known and f.display == "Unknown" for c in result.components for f in c.fields)
    # Known facts that earn nothing are a real zero.
    assert scoring.score(scoring.SAAS, {"soc2": False}).score == Decimal("0.0")


def test_only_generative_ai_applications_get_the_gen_ai_score():
    assert set(scoring.scores_for({}, gen_ai=False)) == {"saas"}
    assert set(scoring.scores_for({}, gen_ai=True)) == {"saas", "gen_ai"}


def test_evidence_is_checked_field_by_field():
    assert scoring.clean_evidence({"soc2": True, "data_retention": None}) == {"soc2": True, "data_retention": None}
    with pytest.raises(ValueError, match="unknown evidence field 'soc3'"):
        scoring.clean_evidence({"soc3": True})
    with pytest.raises(ValueError, match="SOC 2 report: 1 is not one of true, false"):
        scoring.clean_evidence({"soc2": 1})
    with pytest.raises(ValueError, match="Training on customer data: 'sometimes'"):
        scoring.clean_evidence({"training_on_customer_data": "sometimes"})
