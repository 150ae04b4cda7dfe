"""Every behaviour honours the shared contract; each predefined one triggers on what it should
and not on what it should not."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from risk.behaviours import REGISTRY, ParamError
from risk.models import Level

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _sample(source: str, n: int = 60, seed: int = 3) -> list[dict]:
    """Plausible events of a source for two people, some of them triggering."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        base = {"id": i + 1, "user_id": 1 + i % 2, "at": T0 + timedelta(minutes=rnd.randint(0, 600)), "new": i % 3 != 0}
        if source == "auth":
            lat, lon, city, country = rnd.choice([(52.5, 13.4, "Berlin", "DE"), (38.9, -77.0, "Washington", "US"),
                                                  (35.7, 139.7, "Tokyo", "JP")])
            base |= {"allowed": rnd.random() > 0.3, "action": "login", "latitude": lat, "longitude": lon,
                     "city": city, "country": country, "ip": "192.0.2.1"}
        elif source == "gateway_http":
            base |= {"host": "chatgpt.com", "dlp_match_count": rnd.choice([0, 1, 2]),
                     "upload_dlp_profiles": ["PII"], "download_dlp_profiles": [],
                     "blocked_file_name": "x.exe", "blocked_file_reason": rnd.choice(["", "malware", "dlp"]),
                     "blocked_file_hash": "ab"}
        elif source == "gateway_dns":
            base |= {"query_name": "x.example", "category_names": rnd.choice([["Phishing"], ["Violence"], ["News"]]),
                     "resolver_decision": "blockedByCategory"}
        elif source == "device":
            provider = rnd.choice(["crowdstrike", "sentinelone"])
            base |= {"provider": provider, "device_id": f"d{i % 4}", "device_name": "", "os_name": "Windows",
                     "os_version": rnd.choice(["10.0.19041", "10.0.22631"]),
                     "overall_score": rnd.randint(0, 100), "os_score": rnd.randint(0, 100),
                     "sensor_config_score": rnd.randint(0, 100),
                     "threat_id": f"t{i}" if provider == "sentinelone" else "",
                     "threat_name": "EICAR", "classification": "Malware", "confidence_level": "malicious",
                     "mitigation_status": "not_mitigated"}
        elif source == "audit":
            base |= {"action": rnd.choice(["mfa.clone_suspected", "mfa.locked_out", "identity.verification_failed"]),
                     "changes": {"check": "verified_claim"}}
        rows.append(base)
    if source in ("auth", "gateway_http"):  # a burst for the counting windows
        for j in range(12):
            burst = dict(rows[0], id=n + j + 1, user_id=1, at=T0 + timedelta(minutes=300, seconds=10 * j), new=True)
            burst |= {"allowed": False} if source == "auth" else {"dlp_match_count": 1}
            rows.append(burst)
    if source == "audit":  # jailbreak attempts, each listing the person's earlier ones
        times = [T0 + timedelta(minutes=400, seconds=30 * j) for j in range(4)]
        for j, at in enumerate(times):
            rows.append({"id": n + 20 + j, "user_id": 2, "at": at, "new": True,
                         "action": "shadow_ai.prompt.jailbreak_attempt",
                         "changes": {"application": "Claude", "confidence": "high",
                                     "earlier": [t.isoformat() for t in reversed(times[:j])]}})
    rows.sort(key=lambda r: (r["at"], r["id"]))
    return rows


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_every_behaviour_keeps_the_contract(key):
    behaviour = REGISTRY[key]
    assert behaviour.name and behaviour.description and behaviour.requirement
    assert behaviour.default_level in (Level.LOW, Level.MEDIUM, Level.HIGH)
    params = behaviour.default_params()
    assert behaviour.clean_params(params) == params  # the defaults are valid
    with pytest.raises(ParamError):
        behaviour.clean_params({"no_such_parameter": 1})
    events = _sample(behaviour.source)
    first = sorted(behaviour.evaluate([dict(e) for e in events], params), key=lambda t: t.dedupe)
    shuffled = [dict(e) for e in events]
    random.Random(1).shuffle(shuffled)
    again = sorted(behaviour.evaluate(shuffled, params), key=lambda t: t.dedupe)
    assert again == first  # deterministic, whatever order the rows come in
    assert first, f"{key} found nothing in a sample built to trigger it"
    new_ids = {e["id"] for e in events if e["new"]}
    for trigger in first:
        assert trigger.summary and trigger.dedupe
        assert trigger.source_id in {e["id"] for e in events}
        assert key == "impossible_travel" or trigger.source_id in new_ids  # old rows are context only
    assert len({t.dedupe for t in first}) == len(first)
    assert behaviour.evaluate([dict(e, new=False) for e in events], params) == []  # nothing new, nothing found


def _auth(i, minutes, lat, lon, *, allowed=True, new=True):
    return {"id": i, "user_id": 1, "at": T0 + timedelta(minutes=minutes), "allowed": allowed, "action": "login",
            "latitude": lat, "longitude": lon, "city": "", "country": "", "ip": "", "new": new}


def test_impossible_travel_uses_speed_and_the_distance_floor():
    travel = REGISTRY["impossible_travel"]
    params = travel.default_params()
    berlin, paris, sydney = (52.52, 13.40), (48.86, 2.35), (-33.87, 151.21)
    # Berlin → Paris (878 km) in 45 min is 1,170 km/h: impossible by default...
    assert len(travel.evaluate([_auth(1, 0, *berlin), _auth(2, 45, *paris)], params)) == 1
    # ...possible in 2 hours, and ignored under a 1,000 km distance floor.
    assert travel.evaluate([_auth(1, 0, *berlin), _auth(2, 120, *paris)], params) == []
    assert travel.evaluate([_auth(1, 0, *berlin), _auth(2, 45, *paris)], params | {"min_distance_km": 1000}) == []
    # A failed sign-in is not a presence.
    assert travel.evaluate([_auth(1, 0, *berlin), _auth(2, 60, *sydney, allowed=False)], params) == []
    before, after = travel.context_seconds(params)
    assert before == after and 72000 < before < 73000  # half the globe at 1,000 km/h ≈ 20 h


def test_counting_windows_trigger_once_per_window():
    failed = REGISTRY["failed_sign_ins"]
    params = {"threshold": 3, "window_minutes": 10}
    rows = [_auth(i, m, 0, 0, allowed=False) for i, m in enumerate([0, 1, 2, 3, 4, 30, 31, 32], start=1)]
    triggers = failed.evaluate(rows, params)
    assert [t.source_id for t in triggers] == [3, 8]
    assert triggers[0].summary == "3 failed sign-ins within 10 minutes"


def test_crowdstrike_bands_do_not_overlap_at_fifty():
    low, medium = REGISTRY["crowdstrike_low_zta"], REGISTRY["crowdstrike_medium_zta"]

    def row(score):
        return {"id": score, "user_id": 1, "at": T0, "new": True, "provider": "crowdstrike", "device_id": "d",
                "device_name": "", "overall_score": score, "os_score": None, "sensor_config_score": None}

    for score, (in_low, in_medium) in {0: (1, 0), 50: (1, 0), 51: (0, 1), 79: (0, 1), 80: (0, 0)}.items():
        assert len(low.evaluate([row(score)], low.default_params())) == in_low
        assert len(medium.evaluate([row(score)], medium.default_params())) == in_medium


def test_device_update_compares_versions_numerically():
    update = REGISTRY["device_needs_update"]

    def row(os, version):
        return {"id": 1, "user_id": 1, "at": T0, "new": True, "provider": "crowdstrike", "device_id": "d",
                "device_name": "Mac", "os_name": os, "os_version": version}

    params = update.default_params()
    assert update.evaluate([row("macOS", "13.6.1")], params)
    assert not update.evaluate([row("macOS", "14.10")], params)  # 14.10 > 14.0, not a string comparison
    assert not update.evaluate([row("Plan9", "1")], params)  # no minimum set: nothing to say
    with pytest.raises(ParamError):
        update.clean_params({"minimum_versions": ["macOS"]})
