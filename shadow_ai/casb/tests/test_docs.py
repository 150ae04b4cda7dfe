"""docs/casb.md keeps up with the connectors: every finding type is listed with its severity."""

from __future__ import annotations

from pathlib import Path

from shadow_ai.casb.connectors import CONNECTORS

DOC = (Path(__file__).resolve().parents[3] / "docs" / "casb.md").read_text()


def test_every_finding_type_is_documented_with_its_severity():
    for connector in CONNECTORS.values():
        assert f"### {connector.label}" in DOC
        for kind in connector.finding_types:
            mark = "" if kind.reference else " ¹"
            assert f"| {kind.title}{mark} | {kind.severity.label} |" in DOC, kind.key


def test_reference_severities_are_kept():
    """Spot checks against the reference's tables (section 6)."""
    titles = {t.title: t.severity.label for c in CONNECTORS.values() for t in c.finding_types}
    assert titles["OpenAI: GPT with Custom Actions enabled"] == "High"
    assert titles["OpenAI: Stale pending invite"] == "Low"
    assert titles["Anthropic: Unused API key"] == "Medium"
    assert titles["Google Workspace: Admin user with 2FA disabled"] == "Critical"
    assert titles["Google Workspace: Installed 3rd-party app with Google Sign In access"] == "Low"
    assert titles["Google Workspace: Admin user with Gemini license with two-factor authentication disabled"] == "High"
    assert titles["Microsoft 365: Domain not verified"] == "Medium"
    assert titles["GitHub: Organization user two-factor authentication disabled"] == "High"
