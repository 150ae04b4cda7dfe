"""Finding types: what a connector can report, how severe it is by default and what to do about
it. Each connector declares its types next to its mapping code; ``catalogue()`` gathers them.

Titles and default severities follow the reference's lists per vendor (Cloudflare One CASB);
types the reference does not list, which the console adds for what the issue asks (OAuth grants
in Microsoft 365, GitHub apps and tokens, keys without expiry), say so with ``reference=False``
and are listed separately in docs/casb.md."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Severity(models.IntegerChoices):
    """Critical: act today. High: this week. Medium: this month. Low: informational."""

    LOW = 1, "Low"
    MEDIUM = 2, "Medium"
    HIGH = 3, "High"
    CRITICAL = 4, "Critical"

    @classmethod
    def parse(cls, value: object) -> Severity:
        text = str(value).strip().lower()
        for member in cls:
            if text in (member.label.lower(), str(member.value)):
                return member
        raise ValueError(f"Unknown severity {value!r}: use Critical, High, Medium or Low.")


SEVERITY_MEANING = {
    Severity.CRITICAL: "Act today",
    Severity.HIGH: "Act this week",
    Severity.MEDIUM: "Act this month",
    Severity.LOW: "Informational",
}


@dataclass(frozen=True)
class FindingType:
    key: str
    vendor: str
    title: str
    severity: Severity
    remediation: str
    asset_kind: str = ""
    reference: bool = True
    #: Instances of this type can name a library application (OAuth grants): Block with Gateway.
    has_application: bool = False


def catalogue() -> dict[str, FindingType]:
    """Every finding type of every registered connector, by key."""
    # Connectors import this module for FindingType: imported on use to break the cycle.
    from shadow_ai.casb.connectors import CONNECTORS

    found: dict[str, FindingType] = {}
    for connector in CONNECTORS.values():
        for kind in connector.finding_types:
            found[kind.key] = kind
    return found


def finding_type(key: str) -> FindingType | None:
    return catalogue().get(key)
