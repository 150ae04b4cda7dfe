"""Demo telemetry and scores for the demo organization (idempotent: telemetry is keyed by
stable ids, so running it again stores nothing new)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from console.core import demo
from risk.ingest import storage
from risk.models import BehaviourConfig, PendingDetection, TelemetryKind, TelemetrySource
from risk.services import configuration, detection, scores

ENABLED = ("impossible_travel", "failed_sign_ins", "high_dlp_matches", "malicious_file", "suspicious_security_domain",
           "high_risk_domain", "crowdstrike_low_zta", "crowdstrike_medium_zta", "sentinelone_threat",
           "cloned_authenticator", "mfa_lockout", "identity_verification_failed", "device_needs_update")


def _source(name: str, kind: str) -> TelemetrySource:
    found = TelemetrySource.objects.filter(name=name).first()
    if found is None:
        # A demo sender: its token is never shown (create your own to send telemetry).
        # A random hash that no token can match.
        prefix = f"demo{sorted(TelemetryKind.values).index(kind)}"
        found = TelemetrySource.objects.create(name=name, kind=kind, prefix=prefix, secret_hash=secrets.token_hex(32))
    return found


def seed_risk_demo() -> dict[str, int]:
    configuration.ensure_configs()
    BehaviourConfig.objects.filter(key__in=ENABLED).update(enabled=True)
    people = list(User.objects.filter(role="employee", is_active=True).order_by("email")[:6])
    if len(people) < 4:
        return {"events": 0, "scored": 0}
    # Fixed times (the start of this hour, going back) so a second run sends the same rows.
    base = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    traveller, leaker, infected, browser = people[:4]
    auth = [
        {"event_key": f"demo:{traveller.pk}:1", "at": base - timedelta(minutes=40), "email": traveller.email,
         "user_id": traveller.pk, "origin": "external", "action": "login", "allowed": True, "ip": "85.214.132.117",
         "country": "DE", "app_domain": "wiki.acme.example", "app_uid": "", "connection": "okta", "ray_id": "demo1"},
        {"event_key": f"demo:{traveller.pk}:2", "at": base, "email": traveller.email, "user_id": traveller.pk,
         "origin": "external", "action": "login", "allowed": True, "ip": "1.0.16.1", "country": "JP",
         "app_domain": "wiki.acme.example", "app_uid": "", "connection": "okta", "ray_id": "demo2"},
    ]
    http = [
        {"event_key": f"demo:http:{leaker.pk}:{i}", "at": base + timedelta(seconds=30 * i), "email": leaker.email,
         "user_id": leaker.pk, "host": "chatgpt.com", "url": "https://chatgpt.com/backend-api/conversation",
         "http_method": "POST", "http_status": 200, "action": "allow", "application_names": ["ChatGPT"],
         "category_names": ["Artificial Intelligence"], "upload_dlp_profiles": ["Credentials and Secrets"],
         "dlp_match_count": 1, "bytes_sent": 4096 + i}
        for i in range(12)
    ]
    devices = [
        {"event_key": f"demo:cs:{infected.pk}", "at": base, "email": infected.email, "user_id": infected.pk,
         "provider": "crowdstrike", "device_id": f"demo-aid-{infected.pk}", "device_name": "LAPTOP-DEMO",
         "os_name": "Windows", "os_version": "10.0.19041", "overall_score": 38, "os_score": 61,
         "sensor_config_score": 40},
    ]
    dns = [
        {"event_key": f"demo:dns:{browser.pk}", "at": base, "email": browser.email, "user_id": browser.pk,
         "query_name": "free-movies.example", "category_names": ["Questionable Content"],
         "resolver_decision": "blockedByCategory"},
    ]
    stored = 0
    with transaction.atomic():
        for kind, rows, source_kind in (
            (TelemetryKind.ACCESS, auth, "auth"), (TelemetryKind.GATEWAY_HTTP, http, "gateway_http"),
            (TelemetryKind.CROWDSTRIKE, devices, "device"), (TelemetryKind.GATEWAY_DNS, dns, "gateway_dns"),
        ):
            sender = _source(f"Demo {TelemetryKind(kind).label}", kind)
            result = storage.store(kind, rows, source_id=sender.pk)
            stored += len(result.ids)
            if result.ids:
                detection.detect(source_kind, result.ids)
            # Detected here, at once (the rescore below scores everyone): nothing left pending.
            PendingDetection.objects.filter(pk__in=result.pending).delete()
    run = scores.rescore_scheduled()
    return {"events": stored, "scored": run.users_scored if run else 0}


@demo.register("risk", order=30)
def seed_step(run: demo.DemoRun) -> list[str]:
    risk = seed_risk_demo()
    return [f"Risk: {risk['events']} new telemetry events, {risk['scored']} people scored."]
