"""Application confidence scores: the two five-point rubrics of the reference, as a pure
function of the evidence (a mapping of field key to value; a missing key or ``None`` is unknown).

Application Posture Score (SaaS), 5.0 points:

====================================  ======  ===============================================
Security & Privacy Compliance          1.2    SOC 2 and ISO 27001: both full, one half
Data Management Practices              1.0    retention window 0.5, third-party sharing 0.5
Security Controls                      1.0    MFA, SSO, TLS 1.3, RBAC, session monitoring, 0.2 each
Security Reports & Incident History    1.0    trust page, bug bounty, incident transparency, a
                                              third each; a recent material breach zeroes it
Financial Stability                    0.8    public or well capitalised 0.8, other private 0.4
====================================  ======  ===============================================

Generative AI Posture Score, 5.0 points (generative AI applications only):

====================================  ======  ===============================================
Compliance                             1.0    ISO 42001
Deployment Security Model              1.0    authenticated access 0.5, rate limiting 0.5
System Card                            1.0    published model or system cards
Training Data Governance               2.0    customer data excluded 2.0, opt-in or opt-out 1.0
====================================  ======  ===============================================

The category weights and the "both / one" and "breach = full deduction" rules are the
reference's; how partial evidence inside a category is split (equal parts) is ours.

Unknown evidence earns nothing and is reported as unknown; a rubric with no known evidence at
all has no score (``None``), not zero, so "not assessed" is never shown as "bad"."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

YES_NO: tuple[tuple[Any, str], ...] = ((True, "Yes"), (False, "No"))


@dataclass(frozen=True)
class Field:
    """One piece of evidence. ``choices`` are (value, label); booleans are Yes/No."""

    key: str
    label: str
    choices: tuple[tuple[Any, str], ...] = YES_NO
    help: str = ""
    scored: bool = True

    def display(self, value: Any) -> str:
        if value is None:
            return "Unknown"
        return dict(self.choices).get(value, str(value))

    def clean(self, value: Any) -> Any:
        """The value if it is one of the choices (or None for unknown); ValueError otherwise."""
        if value is None:
            return None
        for allowed, _ in self.choices:
            if type(allowed) is type(value) and allowed == value:
                return value
        options = ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v, _ in self.choices)
        raise ValueError(f"{self.label}: {value!r} is not one of {options} (or null for unknown)")


Rule = Callable[[Mapping[str, Any]], tuple[float, str]]


@dataclass(frozen=True)
class Component:
    key: str
    label: str
    points: float
    criteria: str
    fields: tuple[Field, ...]
    rule: Rule


@dataclass(frozen=True)
class Rubric:
    key: str
    label: str
    components: tuple[Component, ...]
    max_points: float = 5.0

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(f for c in self.components for f in c.fields)


@dataclass(frozen=True)
class FieldResult:
    key: str
    label: str
    value: Any
    display: str
    known: bool
    scored: bool


@dataclass(frozen=True)
class ComponentResult:
    key: str
    label: str
    points: float
    max_points: float
    criteria: str
    explanation: str
    fields: tuple[FieldResult, ...]


@dataclass(frozen=True)
class ScoreResult:
    rubric: str
    label: str
    score: Decimal | None  # one decimal, or None when no scored evidence is known
    max_points: float
    components: tuple[ComponentResult, ...]
    known: int
    total: int

    @property
    def exact(self) -> float:
        return sum(c.points for c in self.components)


def _share(evidence: Mapping[str, Any], keys: tuple[str, ...], names: dict[str, str], points: float,
           ) -> tuple[float, str]:
    """Equal parts of ``points`` for each key that is true; explains which are missing."""
    have = [k for k in keys if evidence.get(k) is True]
    lacking = [k for k in keys if evidence.get(k) is False]
    unknown = [k for k in keys if evidence.get(k) is None]
    parts = []
    if have:
        parts.append("has " + ", ".join(names[k] for k in have))
    if lacking:
        parts.append("lacks " + ", ".join(names[k] for k in lacking))
    if unknown:
        parts.append("unknown: " + ", ".join(names[k] for k in unknown))
    text = "; ".join(parts) + "."
    return points * len(have) / len(keys), text[:1].upper() + text[1:]


# --- SaaS rubric ------------------------------------------------------------------------------

SOC2 = Field("soc2", "SOC 2 report", help="A current SOC 2 (Type II) report covers the service.")
ISO27001 = Field("iso27001", "ISO/IEC 27001 certification")
DATA_RETENTION = Field(
    "data_retention", "Data retention",
    choices=(("customer_controlled", "Customer-controlled (configurable, or deleted on request)"),
             ("documented", "A fixed retention window is published"),
             ("undisclosed", "Not disclosed")),
)
THIRD_PARTY_SHARING = Field(
    "third_party_sharing", "Third-party sharing",
    choices=(("processors_only", "Only with subprocessors that run the service"),
             ("sold_or_advertising", "Sold or shared for advertising")),
)
MFA = Field("mfa", "MFA for users")
SSO = Field("sso", "SSO (SAML or OpenID Connect)")
SCIM = Field("scim", "SCIM provisioning", help="Recorded for reviewers; the rubric does not score it.",
             scored=False)
TLS13 = Field("tls13", "TLS 1.3")
RBAC = Field("rbac", "Role-based access control")
SESSION_MONITORING = Field("session_monitoring", "Session monitoring / audit logs")
TRUST_PAGE = Field("trust_page", "Public trust or security page")
BUG_BOUNTY = Field("bug_bounty", "Bug bounty or vulnerability disclosure programme")
INCIDENT_TRANSPARENCY = Field("incident_transparency", "Publishes security incidents and advisories")
RECENT_BREACH = Field("recent_material_breach", "Material breach in the last 24 months",
                      help="Yes removes every point of this category.")
FINANCIAL = Field(
    "financial_standing", "Financial standing",
    choices=(("public", "Publicly listed (or owned by a listed company)"),
             ("well_capitalised", "Privately held, well capitalised"),
             ("private", "Privately held, other")),
)


def _compliance(e: Mapping[str, Any]) -> tuple[float, str]:
    soc2, iso = e.get("soc2") is True, e.get("iso27001") is True
    if soc2 and iso:
        return 1.2, "Both SOC 2 and ISO 27001: full points."
    if soc2 or iso:
        return 0.6, f"Only {'SOC 2' if soc2 else 'ISO 27001'}: half the points."
    unknown = [f.label for f in (SOC2, ISO27001) if e.get(f.key) is None]
    return 0.0, "Neither SOC 2 nor ISO 27001" + (f" is known ({', '.join(unknown)} unknown)." if unknown else ".")


def _data_management(e: Mapping[str, Any]) -> tuple[float, str]:
    retention = {"customer_controlled": 0.5, "documented": 0.25, "undisclosed": 0.0}.get(e.get("data_retention"), 0.0)
    sharing = 0.5 if e.get("third_party_sharing") == "processors_only" else 0.0
    return retention + sharing, (
        f"Retention: {DATA_RETENTION.display(e.get('data_retention'))} ({retention:g}); "
        f"sharing: {THIRD_PARTY_SHARING.display(e.get('third_party_sharing'))} ({sharing:g})."
    )


_CONTROL_NAMES = {"mfa": "MFA", "sso": "SSO", "tls13": "TLS 1.3", "rbac": "RBAC",
                  "session_monitoring": "session monitoring"}


def _controls(e: Mapping[str, Any]) -> tuple[float, str]:
    return _share(e, ("mfa", "sso", "tls13", "rbac", "session_monitoring"), _CONTROL_NAMES, 1.0)


_REPORT_NAMES = {"trust_page": "a trust page", "bug_bounty": "a bug bounty",
                 "incident_transparency": "incident transparency"}


def _reports(e: Mapping[str, Any]) -> tuple[float, str]:
    if e.get("recent_material_breach") is True:
        return 0.0, "A recent material breach: full deduction."
    points, text = _share(e, ("trust_page", "bug_bounty", "incident_transparency"), _REPORT_NAMES, 1.0)
    if e.get("recent_material_breach") is None:
        text += " Breach history unknown."
    return points, text


def _financial(e: Mapping[str, Any]) -> tuple[float, str]:
    value = e.get("financial_standing")
    points = {"public": 0.8, "well_capitalised": 0.8, "private": 0.4}.get(value, 0.0)
    return points, f"{FINANCIAL.display(value)}."


SAAS = Rubric("saas", "Application Posture Score (SaaS)", (
    Component("compliance", "Security & Privacy Compliance", 1.2, "SOC 2 + ISO 27001 (both full, one partial)",
              (SOC2, ISO27001), _compliance),
    Component("data_management", "Data Management Practices", 1.0, "Retention window, third-party sharing",
              (DATA_RETENTION, THIRD_PARTY_SHARING), _data_management),
    Component("security_controls", "Security Controls", 1.0, "MFA, SSO, TLS 1.3, RBAC, session monitoring",
              (MFA, SSO, TLS13, RBAC, SESSION_MONITORING, SCIM), _controls),
    Component("security_reports", "Security Reports & Incident History", 1.0,
              "Trust page, bug bounty, incident transparency; a recent material breach = full deduction",
              (TRUST_PAGE, BUG_BOUNTY, INCIDENT_TRANSPARENCY, RECENT_BREACH), _reports),
    Component("financial_stability", "Financial Stability", 0.8, "Public or well capitalised scores highest",
              (FINANCIAL,), _financial),
))

# --- Generative AI rubric ---------------------------------------------------------------------

ISO42001 = Field("iso42001", "ISO/IEC 42001 certification (AI management system)")
AUTHENTICATED_ACCESS = Field("authenticated_access", "Sign-in required (no anonymous use)")
RATE_LIMITING = Field("rate_limiting", "Rate limiting / usage limits")
SYSTEM_CARD = Field("system_card", "Published model or system cards (safety, bias)")
TRAINING = Field(
    "training_on_customer_data", "Training on customer data",
    choices=(("excluded", "Excluded: customer data is not used for training"),
             ("opt_in", "Only with opt-in"),
             ("opt_out", "Used unless the customer opts out"),
             ("used", "Used, no opt-out")),
)


def _ai_compliance(e: Mapping[str, Any]) -> tuple[float, str]:
    value = e.get("iso42001")
    return (1.0 if value is True else 0.0), f"ISO 42001: {ISO42001.display(value)}."


_DEPLOYMENT_NAMES = {"authenticated_access": "authenticated access", "rate_limiting": "rate limiting"}


def _deployment(e: Mapping[str, Any]) -> tuple[float, str]:
    return _share(e, ("authenticated_access", "rate_limiting"), _DEPLOYMENT_NAMES, 1.0)


def _system_card(e: Mapping[str, Any]) -> tuple[float, str]:
    value = e.get("system_card")
    return (1.0 if value is True else 0.0), f"System card published: {SYSTEM_CARD.display(value)}."


def _training(e: Mapping[str, Any]) -> tuple[float, str]:
    value = e.get("training_on_customer_data")
    points = {"excluded": 2.0, "opt_in": 1.0, "opt_out": 1.0, "used": 0.0}.get(value, 0.0)
    return points, f"{TRAINING.display(value)}."


GEN_AI = Rubric("gen_ai", "Generative AI Posture Score", (
    Component("ai_compliance", "Compliance", 1.0, "ISO 42001", (ISO42001,), _ai_compliance),
    Component("deployment_security", "Deployment Security Model", 1.0, "Authenticated access + rate limiting",
              (AUTHENTICATED_ACCESS, RATE_LIMITING), _deployment),
    Component("system_card", "System Card", 1.0, "Published model/system cards (safety, bias)", (SYSTEM_CARD,),
              _system_card),
    Component("training_data", "Training Data Governance", 2.0,
              "User data excluded from training = max; opt-in/out = partial", (TRAINING,), _training),
))

RUBRICS = {SAAS.key: SAAS, GEN_AI.key: GEN_AI}
FIELDS: dict[str, Field] = {f.key: f for rubric in RUBRICS.values() for f in rubric.fields}


def _one_decimal(value: float) -> Decimal:
    return Decimal(repr(round(value, 6))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def score(rubric: Rubric, evidence: Mapping[str, Any]) -> ScoreResult:
    """The rubric's score for ``evidence``, with each category's points and why."""
    components = []
    known = total = 0
    for component in rubric.components:
        points, explanation = component.rule(evidence)
        fields = []
        for field in component.fields:
            value = evidence.get(field.key)
            fields.append(FieldResult(field.key, field.label, value, field.display(value), value is not None,
                                      field.scored))
            if field.scored:
                total += 1
                known += value is not None
        components.append(ComponentResult(component.key, component.label, round(points, 4), component.points,
                                          component.criteria, explanation, tuple(fields)))
    value = _one_decimal(sum(c.points for c in components)) if known else None
    return ScoreResult(rubric.key, rubric.label, value, rubric.max_points, tuple(components), known, total)


def scores_for(evidence: Mapping[str, Any], *, gen_ai: bool) -> dict[str, ScoreResult]:
    """Both rubrics for a generative AI application, the SaaS one for the others."""
    result = {SAAS.key: score(SAAS, evidence)}
    if gen_ai:
        result[GEN_AI.key] = score(GEN_AI, evidence)
    return result


def clean_evidence(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """Checked evidence; ValueError names the first unknown field or bad value."""
    clean = {}
    for key, value in evidence.items():
        field = FIELDS.get(key)
        if field is None:
            raise ValueError(f"unknown evidence field {key!r}")
        clean[key] = field.clean(value)
    return clean
