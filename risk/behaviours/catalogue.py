"""The predefined risk behaviours: the eight of the reference system, the ones its blog names
(failed sign-ins, a device needing an update) and the signals of our own features (a cloned
authenticator, MFA lockouts, a failed identity verification).

Default levels and thresholds are documented in docs/risk.md; change them there too."""

from __future__ import annotations

import itertools
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from risk.behaviours.base import Behaviour, Param, ParamError, Trigger, count_in_window, first_per_dedupe, register
from risk.geo import distance_km
from risk.models import Level

# --- Sign-ins ---------------------------------------------------------------------------------


@register
class ImpossibleTravel(Behaviour):
    key = "impossible_travel"
    name = "Impossible travel"
    description = ("Two successful sign-ins from places the person could not have travelled between "
                   "in the time between them.")
    default_level = Level.HIGH
    source = "auth"
    requirement = "Access authentication logs (our own sign-ins count automatically)"
    params = (
        Param("max_speed_kmh", "Fastest plausible travel", "int", 1000, 100, 5000, unit="km/h",
              help="A commercial jet cruises at about 900 km/h; anything faster is impossible."),
        Param("min_distance_km", "Ignore distances below", "int", 500, 0, 20000, unit="km",
              help="Addresses are placed at their city (or their country's capital without a "
                   "city database), so short distances are within the error."),
    )

    def context_seconds(self, params: Mapping[str, Any]) -> tuple[int, int]:
        # Half the Earth's circumference at the slowest speed allowed: beyond that any pair is possible.
        seconds = int(20038 / max(params["max_speed_kmh"], 1) * 3600) + 60
        return (seconds, seconds)

    def evaluate(self, events: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[Trigger]:
        by_user: dict[int, list[Mapping[str, Any]]] = {}
        for e in events:
            if e["allowed"] and e["action"] == "login" and e["latitude"] is not None:
                by_user.setdefault(e["user_id"], []).append(e)
        triggers = []
        for rows in by_user.values():
            rows.sort(key=lambda e: (e["at"], e["id"]))
            for before, after in itertools.pairwise(rows):
                if not (before["new"] or after["new"]):
                    continue
                km = distance_km(before["latitude"], before["longitude"], after["latitude"], after["longitude"])
                if km < params["min_distance_km"]:
                    continue
                hours = max((after["at"] - before["at"]).total_seconds(), 1) / 3600
                speed = km / hours
                if speed <= params["max_speed_kmh"]:
                    continue
                where = f"{_place(before)} → {_place(after)}"
                minutes = round(hours * 60)
                triggers.append(Trigger(
                    user_id=after["user_id"], at=after["at"], source_id=after["id"],
                    summary=f"{where}: {round(km):,} km in {minutes} min ({round(speed):,} km/h)",
                    dedupe=f"{before['id']}-{after['id']}",
                    details={"from_event": before["id"], "to_event": after["id"], "distance_km": round(km),
                             "minutes": minutes, "speed_kmh": round(speed),
                             "from": _place(before), "to": _place(after),
                             "from_ip": before["ip"], "to_ip": after["ip"]},
                ))
        return triggers


def _place(event: Mapping[str, Any]) -> str:
    return ", ".join(x for x in (event.get("city") or "", event.get("country") or "") if x) or "unknown"


class _ManyWithinWindow(Behaviour):
    """Triggers when ``threshold`` or more of a person's matching events fall within
    ``window_minutes`` (once per window, at the event that crosses the threshold)."""

    what: str = ""  # e.g. "failed sign-ins", for the summary
    count_field: str = ""  # the name the count goes by in the details

    @abstractmethod
    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether this event counts toward the window."""

    def extra_details(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def context_seconds(self, params: Mapping[str, Any]) -> tuple[int, int]:
        return (params["window_minutes"] * 60, 0)

    def evaluate(self, events: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[Trigger]:
        wanted = [e for e in events if self.matches(e)]
        minutes = params["window_minutes"]
        return [
            Trigger(user_id=e["user_id"], at=e["at"], source_id=e["id"], dedupe=str(e["id"]),
                    summary=f"{count} {self.what} within {minutes} minutes",
                    details={self.count_field: count, "window_minutes": minutes} | self.extra_details(e))
            for e, count in count_in_window(wanted, threshold=params["threshold"], window_seconds=minutes * 60)
            if e["new"]
        ]


@register
class FailedSignIns(_ManyWithinWindow):
    key = "failed_sign_ins"
    name = "Repeated failed sign-ins"
    description = "Many failed sign-ins (wrong password, refused by policy) within a short time."
    default_level = Level.MEDIUM
    source = "auth"
    requirement = "Access authentication logs (our own sign-ins count automatically)"
    params = (
        Param("threshold", "Failures", "int", 10, 2, 10000),
        Param("window_minutes", "Within", "int", 15, 1, 1440, unit="minutes"),
    )
    what, count_field = "failed sign-ins", "failures"

    def matches(self, event: Mapping[str, Any]) -> bool:
        return not event["allowed"]


# --- Gateway HTTP -----------------------------------------------------------------------------


@register
class HighDlpMatches(_ManyWithinWindow):
    key = "high_dlp_matches"
    name = "High number of DLP policies triggered"
    description = "Many requests matching DLP profiles within a short time."
    default_level = Level.MEDIUM
    source = "gateway_http"
    requirement = "Gateway HTTP logs with DLP profile matches"
    params = (
        Param("threshold", "Requests with DLP matches", "int", 10, 2, 100000),
        Param("window_minutes", "Within", "int", 10, 1, 1440, unit="minutes"),
    )
    what, count_field = "requests matched DLP profiles", "requests"

    def matches(self, event: Mapping[str, Any]) -> bool:
        return bool(event["dlp_match_count"])

    def extra_details(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return {"profiles": sorted(set(event["upload_dlp_profiles"]) | set(event["download_dlp_profiles"]))}


@register
class MaliciousFile(Behaviour):
    key = "malicious_file"
    name = "Interaction with a malicious file"
    description = ("An upload or download of a file that anti-virus scanning or the sandbox flagged as "
                   "malicious. It counts even when the file was blocked.")
    default_level = Level.HIGH
    source = "gateway_http"
    requirement = "Gateway HTTP logs from AV scanning or file sandboxing"
    params = (
        Param("reasons", "Blocked-file reasons that mean malicious", "list", ["malware", "virus", "sandbox"],
              help="Matched case-insensitively against BlockedFileReason."),
    )

    def evaluate(self, events: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[Trigger]:
        words = [w.lower() for w in params["reasons"]]
        triggers = []
        for e in events:
            reason = (e["blocked_file_reason"] or "").lower()
            if e["new"] and reason and any(w in reason for w in words):
                name = e["blocked_file_name"] or "a file"
                triggers.append(Trigger(
                    user_id=e["user_id"], at=e["at"], source_id=e["id"], dedupe=str(e["id"]),
                    summary=f"{name} on {e['host']} flagged: {e['blocked_file_reason']}",
                    details={"file": e["blocked_file_name"], "reason": e["blocked_file_reason"],
                             "hash": e["blocked_file_hash"], "host": e["host"]},
                ))
        return triggers


# --- Domains (Gateway DNS) --------------------------------------------------------------------

SECURITY_CATEGORIES = [
    "Security Risks", "Security Threats", "Malware", "Phishing", "Command and Control & Botnet",
    "Cryptomining", "Spyware", "DGA Domains", "DNS Tunneling", "Compromised Domain", "Brand Embedding",
    "Anonymizer", "Spam",
]
HIGH_RISK_CATEGORIES = ["Questionable Content", "Violence", "CIPA", "CIPA Filter"]


class _DomainCategories(Behaviour):
    source = "gateway_dns"
    requirement = "Gateway DNS logs with content categories"

    def evaluate(self, events: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[Trigger]:
        wanted = {c.lower() for c in params["categories"]}
        triggers = []
        for e in events:
            hit = sorted({c for c in e["category_names"] if c.lower() in wanted})
            if e["new"] and hit:
                decision = f" ({e['resolver_decision']})" if e["resolver_decision"] else ""
                triggers.append(Trigger(
                    user_id=e["user_id"], at=e["at"], source_id=e["id"], dedupe=str(e["id"]),
                    summary=f"{e['query_name']}: {', '.join(hit)}{decision}",
                    details={"domain": e["query_name"], "categories": hit, "decision": e["resolver_decision"]},
                ))
        return triggers


@register
class SuspiciousSecurityDomain(_DomainCategories):
    key = "suspicious_security_domain"
    name = "Suspicious security domain visited"
    description = ("A visit to a domain in the security risk or security threat categories (malware, "
                   "phishing, command and control). It counts even when the visit was blocked.")
    default_level = Level.HIGH
    params = (Param("categories", "Categories", "list", SECURITY_CATEGORIES),)


@register
class HighRiskDomain(_DomainCategories):
    key = "high_risk_domain"
    name = "High-risk domain visited"
    description = ("A visit to a domain categorized as questionable content, violence or CIPA. It counts "
                   "even when the visit was blocked.")
    default_level = Level.MEDIUM
    params = (Param("categories", "Categories", "list", HIGH_RISK_CATEGORIES),)


# --- Devices (EDR) ----------------------------------------------------------------------------


def _device_name(e: Mapping[str, Any]) -> str:
    return e["device_name"] or e["device_id"]


@register
class SentinelOneThreat(Behaviour):
    key = "sentinelone_threat"
    name = "SentinelOne threat detected on a device"
    description = "SentinelOne reports a threat on one of the person's devices."
    default_level = Level.HIGH
    source = "device"
    requirement = "SentinelOne threat webhook"
    params = (
        Param("confidence_levels", "Confidence levels that count", "list", ["malicious", "suspicious"]),
        Param("ignored_statuses", "Ignore threats whose mitigation status is", "list", ["not_a_threat"],
              help="e.g. mitigated, resolved, not_a_threat"),
    )

    def evaluate(self, events: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[Trigger]:
        levels = {c.lower() for c in params["confidence_levels"]}
        ignored = {s.lower() for s in params["ignored_statuses"]}
        triggers = []
        for e in events:
            if not (e["new"] and e["provider"] == "sentinelone" and e["threat_id"]):
                continue
            if (e["confidence_level"] or "").lower() not in levels:
                continue
            if (e["mitigation_status"] or "").lower() in ignored:
                continue
            triggers.append(Trigger(
                user_id=e["user_id"], at=e["at"], source_id=e["id"], dedupe=f"{e['device_id']}:{e['threat_id']}",
                summary=f"{e['threat_name'] or 'A threat'} ({e['confidence_level']}) on {_device_name(e)}",
                details={"threat_id": e["threat_id"], "threat": e["threat_name"], "device": _device_name(e),
                         "classification": e["classification"], "confidence": e["confidence_level"],
                         "mitigation": e["mitigation_status"]},
            ))
        return first_per_dedupe(triggers)


class _CrowdStrikeScore(Behaviour):
    source = "device"
    requirement = "CrowdStrike Zero Trust Assessment webhook"

    @abstractmethod
    def band(self, params: Mapping[str, Any]) -> tuple[int, int]:
        """The scores (inclusive) this behaviour triggers on."""

    def evaluate(self, events: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[Trigger]:
        low, high = self.band(params)
        triggers = []
        for e in events:
            if not (e["new"] and e["provider"] == "crowdstrike"):
                continue
            scores = {"overall": e["overall_score"], "OS": e["os_score"], "sensor config": e["sensor_config_score"]}
            hits = {k: v for k, v in scores.items() if v is not None and low <= v <= high}
            if hits:
                text = ", ".join(f"{k} {v}" for k, v in hits.items())
                triggers.append(Trigger(
                    user_id=e["user_id"], at=e["at"], source_id=e["id"], dedupe=str(e["id"]),
                    summary=f"ZTA score {text} on {_device_name(e)}",
                    details={"device": _device_name(e), "scores": hits, "band": [low, high]},
                ))
        return triggers


@register
class CrowdStrikeLowScore(_CrowdStrikeScore):
    key = "crowdstrike_low_zta"
    name = "CrowdStrike low ZTA score"
    description = "A device reports a CrowdStrike Zero Trust Assessment score (overall, OS or sensor) of 0–50."
    default_level = Level.HIGH
    params = (Param("low_max", "Low band ends at", "int", 50, 1, 99),)

    def band(self, params: Mapping[str, Any]) -> tuple[int, int]:
        return (0, params["low_max"])


@register
class CrowdStrikeMediumScore(_CrowdStrikeScore):
    key = "crowdstrike_medium_zta"
    name = "CrowdStrike medium ZTA score"
    description = ("A device reports a CrowdStrike Zero Trust Assessment score (overall, OS or sensor) of "
                   "51–79 (the reference's ranges overlap at 50; 50 counts as low here).")
    default_level = Level.MEDIUM
    params = (
        Param("low_max", "Low band ends at", "int", 50, 1, 99),
        Param("medium_max", "Medium band ends at", "int", 79, 2, 100),
    )

    def band(self, params: Mapping[str, Any]) -> tuple[int, int]:
        return (params["low_max"] + 1, params["medium_max"])


DEFAULT_MINIMUM_VERSIONS = ["Windows=10.0.19045", "macOS=14.0", "iOS=17.0", "iPadOS=17.0", "Android=13",
                            "ChromeOS=120"]


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.replace("-", ".").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@register
class DeviceNeedsUpdate(Behaviour):
    key = "device_needs_update"
    name = "Device needs an update"
    description = ("A device runs an operating system older than the minimum version set for it. SentinelOne "
                   "threats carry the version; CrowdStrike Zero Trust Assessments do not, so a CrowdStrike device "
                   "is judged only by the OS version registered in its device posture (Directory › Devices), and "
                   "not at all when none is registered.")
    default_level = Level.MEDIUM
    source = "device"
    requirement = ("EDR telemetry with the operating system version (SentinelOne), or devices registered with "
                   "their OS version (CrowdStrike)")
    params = (
        Param("minimum_versions", "Minimum versions (OS=version)", "list", DEFAULT_MINIMUM_VERSIONS,
              help="One entry per operating system, e.g. macOS=14.0"),
    )

    def clean_params(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().clean_params(raw)
        for entry in cleaned["minimum_versions"]:
            name, _, version = entry.partition("=")
            if not name.strip() or not _version(version.strip()):
                raise ParamError(f"Minimum versions: {entry!r} should look like macOS=14.0.")
        return cleaned

    def evaluate(self, events: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[Trigger]:
        minimum = {}
        for entry in params["minimum_versions"]:
            name, _, version = entry.partition("=")
            minimum[name.strip().lower()] = (version.strip(), _version(version.strip()))
        triggers = []
        for e in events:
            if not (e["new"] and e["os_name"] and e["os_version"]):
                continue
            wanted = minimum.get(e["os_name"].lower())
            have = _version(e["os_version"])
            if wanted is None or not have or have >= wanted[1]:
                continue
            # A CrowdStrike assessment has no OS version: the one stored with it came from the
            # device's registered posture, and the explanation says so.
            origin = "device posture" if e.get("provider") == "crowdstrike" else "EDR report"
            triggers.append(Trigger(
                user_id=e["user_id"], at=e["at"], source_id=e["id"],
                dedupe=f"{e['device_id']}:{e['os_name']}:{e['os_version']}",
                summary=f"{_device_name(e)} runs {e['os_name']} {e['os_version']} (minimum {wanted[0]}; version "
                        f"from the {origin})",
                details={"device": _device_name(e), "os": e["os_name"], "version": e["os_version"],
                         "minimum": wanted[0], "version_from": origin},
            ))
        return first_per_dedupe(triggers)


# --- Our own features (read from the audit trail) ---------------------------------------------


class _AuditSignal(Behaviour):
    source = "audit"
    action: str = ""

    @abstractmethod
    def describe(self, event: Mapping[str, Any]) -> str:
        """The one-line summary shown to investigators."""

    def evaluate(self, events: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[Trigger]:
        return [
            Trigger(user_id=e["user_id"], at=e["at"], source_id=e["id"], dedupe=str(e["id"]),
                    summary=self.describe(e), details=dict(e["changes"] or {}))
            for e in events if e["new"] and e["action"] == self.action
        ]


@register
class ClonedAuthenticator(_AuditSignal):
    key = "cloned_authenticator"
    name = "Cloned authenticator suspected"
    description = ("A security key's signature counter went backwards, which happens when the key has been "
                   "copied. The key is blocked at the same moment.")
    default_level = Level.HIGH
    requirement = "Built in: MFA"
    action = "mfa.clone_suspected"

    def describe(self, event: Mapping[str, Any]) -> str:
        name = (event["changes"] or {}).get("authenticator", "") or "a security key"
        return f"Signature counter regression on {name}"


@register
class MfaLockout(_AuditSignal):
    key = "mfa_lockout"
    name = "MFA lockout"
    description = "Too many wrong MFA codes or failed verifications locked the person's MFA for a while."
    default_level = Level.MEDIUM
    requirement = "Built in: MFA"
    action = "mfa.locked_out"

    def describe(self, event: Mapping[str, Any]) -> str:
        return "MFA locked after repeated failed verifications"


@register
class IdentityVerificationFailed(_AuditSignal):
    key = "identity_verification_failed"
    name = "Failed identity verification"
    description = ("An identity verification (onboarding, device re-registration, account recovery or a "
                   "step-up) came back failed: not verified, the wrong person, or too low an assurance level.")
    default_level = Level.MEDIUM
    requirement = "Built in: identity-verified onboarding"
    action = "identity.verification_failed"

    def describe(self, event: Mapping[str, Any]) -> str:
        check = (event["changes"] or {}).get("check", "")
        return "Identity verification failed" + (f" ({check})" if check else "")
