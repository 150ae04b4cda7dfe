"""Table-driven tests for the Access decision engine (pure Python, no database).

Semantics checked against docs reference "cloudflare-one.md" §3: Bypass and Service Auth first
(top-down), then Allow/Block in order; the first match decides; deny by default. Include = OR,
Require = AND, Exclude = NOT."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from console.access import engine
from console.access.engine import (
    Action,
    CompiledPolicy,
    Decision,
    DevicePosture,
    Outcome,
    PolicyError,
    RequestContext,
    RuleTrace,
    StepUp,
    UserContext,
    compile_policy,
    compile_selector,
    decide,
    evaluation_order,
    explain,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
_ids = count(1)


def sel(kind: str, *values, **extra) -> dict:
    """A selector config: ``sel("email", "a@b.c")`` or ``sel("device_posture", managed=True)``."""
    config = {"type": kind, **extra}
    if values:
        config["values"] = list(values)
    return config


EVERYONE = sel("everyone")


def pol(name: str, action: str = "allow", include=(EVERYONE,), require=(), exclude=()) -> CompiledPolicy:
    rules = {"include": list(include), "require": list(require), "exclude": list(exclude)}
    return compile_policy(id=next(_ids), name=name, action=action, rules=rules)


def user(email: str = "ann@corp.example", **fields) -> UserContext:
    return UserContext(email=email, **fields)


def req(ip: str | None = "10.1.2.3", **fields) -> RequestContext:
    return RequestContext(now=NOW, ip=ipaddress.ip_address(ip) if ip else None, **fields)


def dev(**fields) -> DevicePosture:
    return DevicePosture(device_id="dev-1", **fields)


def ago(**delta) -> datetime:
    return NOW - timedelta(**delta)


ANN = user()

# --- Selectors: (config, user, request, expected) ------------------------------------------------

SELECTOR_ROWS = [
    # everyone has no non-matching case: it matches people and machines alike.
    pytest.param(EVERYONE, ANN, req(), True, id="everyone-user"),
    pytest.param(EVERYONE, None, req(None), True, id="everyone-machine-no-ip"),
    pytest.param(sel("email", "Ann@Corp.Example"), ANN, req(), True, id="email-case-insensitive"),
    pytest.param(sel("email", "bob@corp.example"), ANN, req(), False, id="email-other"),
    pytest.param(sel("email", "ann@corp.example"), None, req(), False, id="email-no-user"),
    pytest.param(sel("email_domain", "@CORP.example"), ANN, req(), True, id="email_domain-at-prefix-case"),
    pytest.param(sel("email_domain", "corp.example"), user("x@evilcorp.example"), req(), False,
                 id="email_domain-lookalike"),
    pytest.param(sel("email_domain", "corp.example"), user("x@sub.corp.example"), req(), False,
                 id="email_domain-subdomain"),
    pytest.param(sel("group", 7, 9), user(groups=frozenset({1, 7})), req(), True, id="group-any-member"),
    pytest.param(sel("group", "7"), user(groups=frozenset({7})), req(), True, id="group-id-as-text"),
    pytest.param(sel("group", 2), user(groups=frozenset({1, 7})), req(), False, id="group-not-member"),
    pytest.param(sel("identity_provider", "okta"), user(identity_provider="Okta"), req(), True, id="idp-match"),
    pytest.param(sel("identity_provider", "google"), user(identity_provider="okta"), req(), False, id="idp-other"),
    pytest.param({"type": "oidc_claim", "name": "dept", "value": "engineering"},
                 user(claims={"dept": "Engineering"}), req(), True, id="oidc-scalar-value-case"),
    pytest.param({"type": "oidc_claim", "name": "dept", "value": "sales"},
                 user(claims={"dept": "Engineering"}), req(), False, id="oidc-scalar-other"),
    pytest.param({"type": "oidc_claim", "name": "roles", "value": "admin"},
                 user(claims={"roles": ["dev", "Admin"]}), req(), True, id="oidc-list-contains"),
    pytest.param({"type": "oidc_claim", "name": "roles", "value": "admin"},
                 user(claims={"roles": ["dev"]}), req(), False, id="oidc-list-missing"),
    pytest.param({"type": "oidc_claim", "name": "Dept", "value": "engineering"},
                 user(claims={"dept": "engineering"}), req(), False, id="oidc-name-case-sensitive"),
    pytest.param({"type": "oidc_claim", "name": "level", "value": 3}, user(claims={"level": 3}), req(), True,
                 id="oidc-int-value"),
    pytest.param({"type": "oidc_claim", "name": "dept", "value": "x"}, user(), req(), False, id="oidc-no-claim"),
    pytest.param(sel("country", "us", "ca"), ANN, req(country="US"), True, id="country-match"),
    pytest.param(sel("country", "US"), ANN, req(country="de"), False, id="country-other"),
    pytest.param(sel("country", "US"), ANN, req(country=""), False, id="country-unknown"),
    pytest.param(sel("ip_range", "203.0.113.7"), ANN, req("203.0.113.7"), True, id="ip-v4-single"),
    pytest.param(sel("ip_range", "203.0.113.7"), ANN, req("203.0.113.8"), False, id="ip-v4-single-other"),
    pytest.param(sel("ip_range", "10.0.0.0/8"), ANN, req("10.255.0.1"), True, id="ip-v4-cidr"),
    pytest.param(sel("ip_range", "10.0.0.0/8"), ANN, req("11.0.0.1"), False, id="ip-v4-cidr-outside"),
    pytest.param(sel("ip_range", "2001:db8::/32"), ANN, req("2001:db8::1"), True, id="ip-v6-cidr"),
    pytest.param(sel("ip_range", "2001:db8::/32"), ANN, req("2001:db9::1"), False, id="ip-v6-cidr-outside"),
    pytest.param(sel("ip_range", "2001:db8::/32"), ANN, req("10.1.2.3"), False, id="ip-v4-vs-v6-range"),
    pytest.param(sel("ip_range", "10.0.0.0/8"), ANN, req("::ffff:10.1.2.3"), True, id="ip-v4-mapped-v6"),
    pytest.param(sel("ip_range", "10.0.0.0/8"), ANN, req("::ffff:11.1.2.3"), False, id="ip-v4-mapped-outside"),
    pytest.param(sel("ip_range", "0.0.0.0/0", "::/0"), ANN, req(None), False, id="ip-no-ip"),
    pytest.param(sel("device_posture", managed=True), ANN, req(device=dev(managed=True)), True, id="dev-managed"),
    pytest.param(sel("device_posture", managed=True), ANN, req(device=dev()), False, id="dev-unmanaged"),
    pytest.param(sel("device_posture", disk_encrypted=True), ANN, req(device=dev(disk_encrypted=True)), True,
                 id="dev-encrypted"),
    pytest.param(sel("device_posture", managed=True, disk_encrypted=True), ANN, req(device=dev(managed=True)),
                 False, id="dev-managed-not-encrypted"),
    pytest.param(sel("device_posture", min_edr_score=70), ANN, req(device=dev(edr_score=70)), True,
                 id="dev-edr-at-threshold"),
    pytest.param(sel("device_posture", min_edr_score=70), ANN, req(device=dev(edr_score=69)), False,
                 id="dev-edr-below"),
    pytest.param(sel("device_posture", min_edr_score=0), ANN, req(device=dev()), False, id="dev-edr-missing"),
    pytest.param(sel("device_posture", min_os_version={"macOS": "14.2"}), ANN,
                 req(device=dev(os="macos", os_version="14.10")), True, id="dev-macos-14.10-ge-14.2"),
    pytest.param(sel("device_posture", min_os_version={"macOS": "14.2"}), ANN,
                 req(device=dev(os="macOS", os_version="14.1.9")), False, id="dev-macos-too-old"),
    pytest.param(sel("device_posture", min_os_version={"macOS": "14.0"}), ANN,
                 req(device=dev(os="macOS", os_version="14")), True, id="dev-macos-14-equals-14.0"),
    pytest.param(sel("device_posture", min_os_version={"macOS": "14.2", "Windows": "10.0.22631"}), ANN,
                 req(device=dev(os="Windows", os_version="10.0.22631")), True, id="dev-windows-at-min"),
    pytest.param(sel("device_posture", min_os_version={"macOS": "14.2", "Windows": "10.0.22631"}), ANN,
                 req(device=dev(os="windows", os_version="10.0.19045")), False, id="dev-windows-too-old"),
    pytest.param(sel("device_posture", min_os_version={"macOS": "14.2"}), ANN,
                 req(device=dev(os="linux", os_version="1.0")), True, id="dev-min-os-other-os-passes"),
    pytest.param(sel("device_posture", os=["macOS", "Windows"]), ANN, req(device=dev(os="windows")), True,
                 id="dev-os-listed"),
    pytest.param(sel("device_posture", os=["macOS", "Windows"]), ANN, req(device=dev(os="linux")), False,
                 id="dev-os-not-listed"),
    pytest.param(sel("device_posture", managed=True), ANN, req(), False, id="dev-no-device"),
    pytest.param(sel("service_token", "tok-ci"), None, req(service_token="tok-ci"), True, id="token-match"),
    pytest.param(sel("service_token", "tok-ci"), None, req(service_token="tok-other"), False, id="token-other"),
    pytest.param(sel("service_token", "tok-ci"), None, req(), False, id="token-none"),
    pytest.param(sel("any_service_token"), None, req(service_token="tok-x"), True, id="any-token-match"),
    pytest.param(sel("any_service_token"), ANN, req(), False, id="any-token-none"),
    pytest.param(sel("auth_method", "mfa"), user(auth_methods=frozenset({"pwd", "mfa"})), req(), True,
                 id="amr-match"),
    pytest.param(sel("auth_method", "mfa"), user(auth_methods=frozenset({"pwd"})), req(), False, id="amr-other"),
    pytest.param(sel("mfa_method", "security_key", "totp"), user(mfa={"totp": ago(days=400)}), req(), True,
                 id="mfa-any-listed-no-window"),
    pytest.param(sel("mfa_method", "security_key"), user(mfa={"totp": ago(minutes=1)}), req(), False,
                 id="mfa-other-method"),
    pytest.param(sel("mfa_method", "totp", max_age_minutes=30), user(mfa={"totp": ago(minutes=30)}), req(), True,
                 id="mfa-window-edge-inside"),
    pytest.param(sel("mfa_method", "totp", max_age_minutes=30), user(mfa={"totp": ago(minutes=30, seconds=1)}),
                 req(), False, id="mfa-window-edge-outside"),
    pytest.param(sel("mfa_method", "totp"), None, req(), False, id="mfa-no-user"),
    pytest.param(sel("identity_verified"), user(identity_verified_at=ago(days=900)), req(), True,
                 id="idv-no-max-age"),
    pytest.param(sel("identity_verified"), ANN, req(), False, id="idv-never"),
    pytest.param(sel("identity_verified", max_age_days=30), user(identity_verified_at=ago(days=30)), req(), True,
                 id="idv-fresh-edge"),
    pytest.param(sel("identity_verified", max_age_days=30), user(identity_verified_at=ago(days=31)), req(), False,
                 id="idv-stale"),
    pytest.param(sel("risk_score", "low"), user(risk_level="low"), req(), True, id="risk-low"),
    pytest.param(sel("risk_score", "medium"), user(risk_level="medium"), req(), True, id="risk-medium"),
    pytest.param(sel("risk_score", "high"), user(risk_level="high"), req(), True, id="risk-high"),
    pytest.param(sel("risk_score", "unscored"), ANN, req(), True, id="risk-unscored-default"),
    pytest.param(sel("risk_score", "low", "medium"), user(risk_level="high"), req(), False, id="risk-high-not-listed"),
    pytest.param(sel("risk_score", "high"), ANN, req(), False, id="risk-unscored-not-high"),
]


@pytest.mark.parametrize(("config", "who", "request_", "expected"), SELECTOR_ROWS)
def test_selector(config, who, request_, expected):
    assert compile_selector(config).test(who, request_) is expected


def test_selector_table_covers_every_selector_type():
    covered = {p.values[0]["type"] for p in SELECTOR_ROWS}
    assert covered == set(engine.SELECTORS)
    for kind in set(engine.SELECTORS) - {"everyone"}:  # everyone cannot fail
        assert {p.values[3] for p in SELECTOR_ROWS if p.values[0]["type"] == kind} == {True, False}, kind


# --- Invalid configurations ----------------------------------------------------------------------

INVALID_ROWS = [
    pytest.param({"include": [sel("ip_range", "10.0.0.0/33")]}, "include 1 (ip_range)", "10.0.0.0/33", id="bad-cidr"),
    pytest.param({"include": [EVERYONE], "require": [sel("country", "US"), sel("country", "USA")]},
                 "require 2 (country)", "USA", id="bad-country"),
    pytest.param({"include": [sel("email", "bob")]}, "include 1 (email)", "bob", id="bad-email"),
    pytest.param({"include": [EVERYONE], "exclude": [sel("group", "admins")]}, "exclude 1 (group)", "admins",
                 id="bad-group-id"),
    pytest.param({"include": [sel("login_method", "okta")]}, "include 1 (login_method)", "login_method",
                 id="unknown-type"),
    pytest.param({"include": [EVERYONE], "require": [sel("mfa_method", "totp", "sms")]}, "require 1 (mfa_method)",
                 "sms", id="unknown-mfa-method"),
    pytest.param({"include": [EVERYONE], "exclude": [sel("risk_score", "critical")]}, "exclude 1 (risk_score)",
                 "critical", id="unknown-risk-level"),
    pytest.param({"include": [{"type": "email", "values": []}]}, "include 1 (email)", "non-empty list",
                 id="empty-values"),
    pytest.param({"include": [sel("device_posture")]}, "include 1 (device_posture)", "at least one device check",
                 id="device-no-checks"),
    pytest.param({"include": [sel("device_posture", min_edr_score=101)]}, "include 1 (device_posture)",
                 "min_edr_score", id="edr-out-of-range"),
    pytest.param({"include": [sel("mfa_method", "totp", max_age_minutes=0)]}, "include 1 (mfa_method)",
                 "max_age_minutes", id="mfa-max-age-zero"),
    pytest.param({"include": [{"type": "oidc_claim", "value": "x"}]}, "include 1 (oidc_claim)", "claim name",
                 id="oidc-no-name"),
]


@pytest.mark.parametrize(("rules", "where", "bad_value"), INVALID_ROWS)
def test_invalid_selector_config_names_rule_and_value(rules, where, bad_value):
    with pytest.raises(PolicyError) as caught:
        compile_policy(id=1, name="Bad", action="allow", rules=rules)
    assert caught.value.where == where
    assert str(caught.value).startswith(f"{where}: ")
    assert bad_value in str(caught.value)


@pytest.mark.parametrize("rules", [
    pytest.param({}, id="no-rules"),
    pytest.param({"include": [], "require": [EVERYONE]}, id="require-only"),
    pytest.param({"exclude": [sel("country", "KP")]}, id="exclude-only"),
])
def test_policy_without_include_is_rejected(rules):
    with pytest.raises(PolicyError) as caught:
        compile_policy(id=1, name="No include", action="allow", rules=rules)
    assert caught.value.where == "include"


def test_unknown_action_is_rejected():
    with pytest.raises(PolicyError, match="unknown action 'permit'"):
        compile_policy(id=1, name="X", action="permit", rules={"include": [EVERYONE]})


@pytest.mark.parametrize(("rules", "where"), [
    pytest.param({"include": [sel("email", "a@corp.example")]}, "include 1 (email)", id="include-email"),
    pytest.param({"include": [EVERYONE], "require": [sel("group", 1)]}, "require 1 (group)", id="require-group"),
    pytest.param({"include": [EVERYONE], "exclude": [sel("country", "KP"), sel("risk_score", "high")]},
                 "exclude 2 (risk_score)", id="exclude-risk"),
    pytest.param({"include": [EVERYONE], "require": [sel("mfa_method", "totp")]}, "require 1 (mfa_method)",
                 id="require-mfa"),
    pytest.param({"include": [sel("identity_provider", "okta")]}, "include 1 (identity_provider)", id="include-idp"),
])
def test_bypass_refuses_identity_selectors(rules, where):
    with pytest.raises(PolicyError, match="Bypass policies cannot use identity selectors") as caught:
        compile_policy(id=1, name="Bypass", action="bypass", rules=rules)
    assert caught.value.where == where
    assert where in str(caught.value)


def test_bypass_accepts_non_identity_selectors():
    policy = pol("Health", "bypass", include=[sel("ip_range", "192.0.2.0/24"), EVERYONE],
                 require=[sel("device_posture", managed=True)], exclude=[sel("country", "KP")])
    assert policy.action == Action.BYPASS


# --- Decisions: (policies in configured order, user, request, outcome, deciding policy) ----------

BYPASS_D = pol("D", "bypass", include=[sel("ip_range", "192.0.2.0/24")])
SVC_C = pol("C", "service_auth", include=[sel("service_token", "tok-ci")])
MFA_TOTP = sel("mfa_method", "totp", "security_key", max_age_minutes=60)
STEP_UP_MFA = pol("Step-up MFA", include=[sel("email_domain", "corp.example")], require=[MFA_TOTP])
STEP_UP_IDV = pol("Step-up IDV", include=[EVERYONE], require=[sel("identity_verified", max_age_days=30)])
STEP_UP_BOTH = pol("Step-up both", include=[EVERYONE],
                   require=[sel("identity_verified"), sel("mfa_method", "biometrics")])
MFA_AND_US = pol("MFA and US", include=[EVERYONE], require=[MFA_TOTP, sel("country", "US")])
US_AND_MFA = pol("US and MFA", include=[EVERYONE], require=[sel("country", "US"), MFA_TOTP])
MFA_UNLESS_HIGH = pol("MFA unless high risk", include=[EVERYONE], require=[MFA_TOTP],
                      exclude=[sel("risk_score", "high")])
BLOCK_MFA = pol("Block MFA", "block", include=[EVERYONE], require=[MFA_TOTP])
FALLBACK = pol("Fallback", include=[EVERYONE])
BLOCK_ALL = pol("Block all", "block")
ALLOW_ALL = pol("Allow all")
INCLUDE_OR = pol("Include OR", include=[sel("email", "bob@corp.example"), sel("country", "US")])
REQUIRE_AND = pol("Require AND", include=[EVERYONE],
                  require=[sel("country", "US"), sel("device_posture", managed=True)])
EXCLUDE_NOT = pol("Exclude NOT", include=[EVERYONE],
                  exclude=[sel("country", "KP"), sel("email", "mallory@corp.example")])

US = req(country="US")
MANAGED_US = req(country="US", device=dev(managed=True))
FRESH_MFA = user(mfa={"totp": ago(minutes=5)})
STALE_MFA = user(mfa={"totp": ago(minutes=61)})

ALLOW, DENY, CHALLENGE, BYPASS = Outcome.ALLOW, Outcome.DENY, Outcome.CHALLENGE, Outcome.BYPASS

SCENARIOS = [
    pytest.param([INCLUDE_OR], user("bob@corp.example"), req(country="DE"), ALLOW, "Include OR", id="include-first"),
    pytest.param([INCLUDE_OR], ANN, US, ALLOW, "Include OR", id="include-second"),
    pytest.param([INCLUDE_OR], ANN, req(country="DE"), DENY, None, id="include-none"),
    pytest.param([REQUIRE_AND], ANN, MANAGED_US, ALLOW, "Require AND", id="require-all"),
    pytest.param([REQUIRE_AND], ANN, US, DENY, None, id="require-device-fails"),
    pytest.param([REQUIRE_AND], ANN, req(country="DE", device=dev(managed=True)), DENY, None,
                 id="require-country-fails"),
    pytest.param([EXCLUDE_NOT], ANN, US, ALLOW, "Exclude NOT", id="exclude-none"),
    pytest.param([EXCLUDE_NOT], ANN, req(country="KP"), DENY, None, id="exclude-first"),
    pytest.param([EXCLUDE_NOT], user("mallory@corp.example"), US, DENY, None, id="exclude-second"),
    pytest.param([ALLOW_ALL, BLOCK_ALL], ANN, US, ALLOW, "Allow all", id="allow-before-block"),
    pytest.param([BLOCK_ALL, ALLOW_ALL], ANN, US, DENY, "Block all", id="block-before-allow"),
    pytest.param([INCLUDE_OR, BLOCK_ALL, ALLOW_ALL], ANN, req(country="DE"), DENY, "Block all",
                 id="falls-through-to-block"),
    pytest.param([BLOCK_ALL, BYPASS_D], ANN, req("192.0.2.10"), BYPASS, "D", id="bypass-before-block"),
    pytest.param([ALLOW_ALL, SVC_C], ANN, req(service_token="tok-ci"), ALLOW, "C", id="service-auth-before-allow"),
    pytest.param([BLOCK_ALL, SVC_C], None, req(service_token="tok-ci"), ALLOW, "C", id="machine-service-auth"),
    pytest.param([ALLOW_ALL, SVC_C], None, req(service_token="tok-bad"), DENY, None, id="machine-bad-token"),
    pytest.param([ALLOW_ALL, BLOCK_ALL], None, req(), DENY, None, id="machine-skips-allow-block"),
    pytest.param([BYPASS_D, ALLOW_ALL], None, req("192.0.2.1"), BYPASS, "D", id="machine-bypass"),
    pytest.param([], ANN, US, DENY, None, id="no-policies"),
    pytest.param([INCLUDE_OR, BYPASS_D, SVC_C], ANN, req(country="FR"), DENY, None, id="nothing-matches"),
    pytest.param([STEP_UP_MFA], ANN, US, CHALLENGE, "Step-up MFA", id="step-up-mfa-missing"),
    pytest.param([STEP_UP_MFA], STALE_MFA, US, CHALLENGE, "Step-up MFA", id="step-up-mfa-stale"),
    pytest.param([STEP_UP_MFA], FRESH_MFA, US, ALLOW, "Step-up MFA", id="step-up-mfa-fresh"),
    pytest.param([STEP_UP_MFA, FALLBACK], user("x@other.example"), US, ALLOW, "Fallback",
                 id="step-up-needs-include"),
    pytest.param([STEP_UP_IDV], user(identity_verified_at=ago(days=31)), US, CHALLENGE, "Step-up IDV",
                 id="step-up-idv-stale"),
    pytest.param([STEP_UP_IDV], user(identity_verified_at=ago(days=1)), US, ALLOW, "Step-up IDV",
                 id="step-up-idv-fresh"),
    pytest.param([STEP_UP_BOTH], ANN, US, CHALLENGE, "Step-up both", id="step-up-both"),
    pytest.param([MFA_AND_US, FALLBACK], ANN, req(country="DE"), ALLOW, "Fallback", id="non-step-up-falls-through"),
    pytest.param([US_AND_MFA], ANN, req(country="DE"), DENY, None, id="non-step-up-first-denies"),
    pytest.param([MFA_AND_US], ANN, US, CHALLENGE, "MFA and US", id="only-mfa-fails-challenges"),
    pytest.param([MFA_UNLESS_HIGH], user(risk_level="high"), US, DENY, None, id="exclude-beats-step-up"),
    pytest.param([MFA_UNLESS_HIGH], ANN, US, CHALLENGE, "MFA unless high risk", id="step-up-no-exclude"),
    pytest.param([BLOCK_MFA, FALLBACK], ANN, US, ALLOW, "Fallback", id="block-mfa-never-challenges"),
    pytest.param([BLOCK_MFA, FALLBACK], FRESH_MFA, US, DENY, "Block MFA", id="block-mfa-with-mfa"),
    pytest.param([STEP_UP_MFA, BLOCK_ALL], ANN, US, CHALLENGE, "Step-up MFA", id="step-up-before-block"),
]


@pytest.mark.parametrize(("policies", "who", "request_", "outcome", "policy_name"), SCENARIOS)
def test_decide(policies, who, request_, outcome, policy_name):
    decision = decide(evaluation_order(policies), who, request_)
    assert decision.outcome == outcome
    assert (decision.policy.name if decision.policy else None) == policy_name
    assert decision.allowed is (outcome in (ALLOW, BYPASS))
    assert bool(decision.challenge) is (outcome == CHALLENGE)


def _selector_scenario(param):
    config, who, request_, expected = param.values
    policy = pol(f"Selector {param.id}", include=[config])
    return pytest.param([policy], who, request_, ALLOW if expected and who else DENY,
                        policy.name if expected and who else None, id=f"selector-{param.id}")


ALL_SCENARIOS = SCENARIOS + [_selector_scenario(p) for p in SELECTOR_ROWS]


@pytest.mark.parametrize(("policies", "who", "request_", "outcome", "policy_name"), ALL_SCENARIOS)
def test_explain_agrees_with_decide(policies, who, request_, outcome, policy_name):
    ordered = evaluation_order(policies)
    fast, slow = decide(ordered, who, request_), explain(ordered, who, request_)
    assert (slow.outcome, slow.policy, slow.challenge) == (fast.outcome, fast.policy, fast.challenge)
    assert (fast.outcome, fast.policy.name if fast.policy else None) == (outcome, policy_name)
    assert fast.trace == ()
    assert [t.name for t in slow.trace] == [p.name for p in ordered]
    assert slow.reason == fast.reason


@pytest.mark.parametrize(("policies", "who", "request_", "outcome", "policy_name"), SCENARIOS)
def test_same_inputs_give_equal_decisions(policies, who, request_, outcome, policy_name):
    ordered = evaluation_order(policies)
    assert decide(ordered, who, request_) == decide(ordered, who, request_)
    assert explain(ordered, who, request_) == explain(ordered, who, request_)
    assert evaluation_order(policies) == ordered


# --- Evaluation order ----------------------------------------------------------------------------

A = pol("A", include=[sel("email", "ann@corp.example")])
B = pol("B", "block", include=[sel("country", "KP")])
C = SVC_C
D = BYPASS_D
E = pol("E", include=[sel("email_domain", "corp.example")])
REFERENCE_EXAMPLE = [A, B, C, D, E]


def test_reference_example_evaluation_order():
    assert tuple(p.name for p in evaluation_order(REFERENCE_EXAMPLE)) == ("C", "D", "A", "B", "E")


def test_first_match_in_evaluation_order_decides():
    ordered = evaluation_order(REFERENCE_EXAMPLE)
    assert decide(ordered, ANN, US).policy is A
    assert decide(ordered, user("bob@corp.example"), US).policy is E
    assert decide(ordered, user("bob@corp.example"), req(country="KP")).policy is B
    assert decide(ordered, ANN, req("192.0.2.9", country="KP")).policy is D
    assert decide(ordered, None, req("192.0.2.9", service_token="tok-ci")).policy is C


# --- Step-up details -----------------------------------------------------------------------------


def test_mfa_challenge_lists_methods_in_engine_order():
    decision = decide([STEP_UP_MFA], ANN, US)
    assert decision.outcome == CHALLENGE
    assert decision.challenge == (StepUp("mfa", ("security_key", "totp"), 3600),)
    assert decision.challenge[0].as_dict() == {"type": "mfa", "methods": ["security_key", "totp"],
                                               "max_age_seconds": 3600}
    assert decision.reason == "Policy Step-up MFA allows access after step-up."
    assert not decision.allowed


def test_identity_verification_challenge():
    decision = decide([STEP_UP_IDV], ANN, US)
    assert decision.challenge == (StepUp("identity_verification", (), 30 * 86400),)
    assert decision.challenge[0].as_dict() == {"type": "identity_verification", "max_age_seconds": 30 * 86400}


def test_challenge_lists_every_failing_step_up_in_require_order():
    kinds = [s.kind for s in decide([STEP_UP_BOTH], ANN, US).challenge]
    assert kinds == ["identity_verification", "mfa"]
    half = user(identity_verified_at=ago(days=1))
    assert decide([STEP_UP_BOTH], half, US).challenge == (StepUp("mfa", ("biometrics",)),)


def test_service_auth_with_mfa_require_never_challenges():
    policy = pol("Svc MFA", "service_auth", include=[sel("any_service_token")], require=[MFA_TOTP])
    assert decide([policy], ANN, req(service_token="tok")) == Decision(DENY)


# --- explain(): traces and notes -----------------------------------------------------------------


def test_trace_lists_policies_in_evaluation_order_with_results():
    decision = explain(evaluation_order(REFERENCE_EXAMPLE), user("bob@corp.example"), US)
    assert [(t.name, t.action, t.result) for t in decision.trace] == [
        ("C", "service_auth", "not matched"), ("D", "bypass", "not matched"), ("A", "allow", "not matched"),
        ("B", "block", "not matched"), ("E", "allow", "matched"),
    ]
    assert [t.policy_id for t in decision.trace] == [C.id, D.id, A.id, B.id, E.id]
    assert decision.trace[0].note == "No Include rule matched."
    assert decision.trace[-1].note == ""
    assert decision.reason == "Policy E allows this request."


def test_trace_marks_policies_after_the_decision_skipped():
    decision = explain(evaluation_order(REFERENCE_EXAMPLE), ANN, US)
    assert [t.result for t in decision.trace] == ["not matched", "not matched", "matched", "skipped", "skipped"]
    for skipped in decision.trace[3:]:
        assert skipped.note == "An earlier policy already decided."
        assert skipped.rules == ()


def test_rule_traces_cover_include_require_exclude_in_order():
    policy = pol("Rules", include=[sel("email", "bob@corp.example"), sel("country", "US")],
                 require=[sel("device_posture", managed=True)], exclude=[sel("risk_score", "high")])
    trace = explain([policy], ANN, MANAGED_US).trace[0]
    assert trace.result == "matched"
    assert [(r.kind, r.type, r.matched) for r in trace.rules] == [
        ("include", "email", False), ("include", "country", True),
        ("require", "device_posture", True), ("exclude", "risk_score", False),
    ]
    assert trace.rules[1] == RuleTrace("include", "country", "Country is US", True)


@pytest.mark.parametrize(("policy", "who", "request_", "result", "note"), [
    pytest.param(INCLUDE_OR, ANN, req(country="DE"), "not matched", "No Include rule matched.", id="no-include"),
    pytest.param(EXCLUDE_NOT, ANN, req(country="KP"), "not matched", "An Exclude rule matched.", id="exclude"),
    pytest.param(REQUIRE_AND, ANN, US, "not matched", "A Require rule did not match.", id="require"),
    pytest.param(BLOCK_MFA, ANN, US, "not matched", "A Require rule did not match.", id="block-mfa"),
    pytest.param(MFA_UNLESS_HIGH, user(risk_level="high"), US, "not matched", "An Exclude rule matched.",
                 id="exclude-over-step-up"),
    pytest.param(STEP_UP_MFA, ANN, US, "step-up",
                 "Matches once the user proves what the failing Require rules ask.", id="step-up"),
    pytest.param(ALLOW_ALL, None, req(), "not matched", "Needs a signed-in user; the request has none.",
                 id="machine"),
    pytest.param(ALLOW_ALL, ANN, US, "matched", "", id="matched"),
])
def test_trace_notes(policy, who, request_, result, note):
    trace = explain([policy], who, request_).trace
    assert len(trace) == 1
    assert (trace[0].result, trace[0].note) == (result, note)


@pytest.mark.parametrize(("policies", "who", "request_", "reason"), [
    pytest.param([ALLOW_ALL], ANN, US, "Policy Allow all allows this request.", id="allow"),
    pytest.param([SVC_C], None, req(service_token="tok-ci"), "Policy C allows this request.", id="service-auth"),
    pytest.param([BLOCK_ALL], ANN, US, "Policy Block all blocks this request.", id="block"),
    pytest.param([BYPASS_D], ANN, req("192.0.2.1"), "Policy D bypasses Access for this request.", id="bypass"),
    pytest.param([], ANN, US, "No policy matched: access is denied by default.", id="deny-by-default"),
    pytest.param([STEP_UP_MFA], ANN, US, "Policy Step-up MFA allows access after step-up.", id="challenge"),
])
def test_reason(policies, who, request_, reason):
    assert decide(policies, who, request_).reason == reason
    assert explain(policies, who, request_).reason == reason


# --- Reference semantics the engine does not follow (see report) --------------------------------


def test_require_values_inside_one_rule_are_anded():
    """Reference §3.2: "Multiple values inside one Require rule are ANDed too; use a rule group to
    OR them." A Require on groups [1, 2] needs membership of both."""
    policy = pol("Both groups", include=[EVERYONE], require=[sel("group", 1, 2)])
    assert decide([policy], user(groups=frozenset({1, 2})), US).outcome == ALLOW
    assert decide([policy], user(groups=frozenset({1})), US).outcome == DENY


# The one rule both engines share (console.core.policy.edr_threshold): a string of digits is the
# number it spells; anything else that is not a whole number from 0 to 100 is refused.
@pytest.mark.parametrize(("device_score", "passes"), [(85, True), (84, False), (None, False)])
def test_edr_score_given_as_digits_is_read_as_a_number(device_score, passes):
    selector = compile_selector(sel("device_posture", min_edr_score="85"))
    assert selector.label == "Device is EDR score ≥ 85"
    assert selector.test(ANN, req(device=dev(edr_score=device_score))) is passes


@pytest.mark.parametrize("bad", ["high", "85.5", 85.5, True, "-1", "101", [85]])
def test_edr_score_that_is_not_a_whole_number_is_refused(bad):
    with pytest.raises(PolicyError, match="min_edr_score must be a whole number from 0 to 100"):
        compile_policy(id=1, name="Bad", action="allow", rules={"include": [sel("device_posture", min_edr_score=bad)]})
