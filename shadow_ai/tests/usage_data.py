"""Gateway HTTP log rows for the usage tests, and the numbers the rollups must give for them,
computed here from the rows alone: which application a host belongs to is written out by hand
from the shipped library file, not asked of the matcher under test."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

# host → the library application key it must count for (None: no library application).
HOSTS: dict[str, str | None] = {
    "chatgpt.com": "chatgpt",
    "chat.openai.com": "chatgpt",
    "claude.ai": "claude",
    "gemini.google.com": "gemini",
    "www.perplexity.ai": "perplexity",  # a subdomain of perplexity.ai
    "chat.deepseek.com": "deepseek",
    "docs.google.com": "google-docs",
    "files.slack.com": "slack",
    "raw.githubusercontent.com": "github",
    "copilot-proxy.githubusercontent.com": "github-copilot",  # the longest library hostname wins
    "intranet.corp.example": None,
    "tools.unknown-ai.example": None,
}
# A host the library does not know, for which the gateway sends a library application's name.
NAMED_HOST, NAMED_AS, NAMED_APP = "edge.mystery-cdn.example", "Claude", "claude"
GEN_AI = {"chatgpt", "claude", "gemini", "perplexity", "deepseek", "github-copilot"}
COUNTRIES = ["US", "DE", "GB", ""]


@dataclass
class Person:
    email: str  # "" when the rows carry none (known by device, or anonymous)
    device_id: str
    device_name: str
    counted_as: str  # the person the rollups count the rows for ("" = nobody)


@dataclass
class Expected:
    """The rollups' numbers, from the rows."""

    app_day: dict[tuple[date, str], dict[str, Any]] = field(default_factory=dict)
    app_person_day: dict[tuple[date, str, str], dict[str, int]] = field(default_factory=dict)
    person_day: dict[tuple[date, str], dict[str, int]] = field(default_factory=dict)
    device_day: dict[tuple[date, str], dict[str, int]] = field(default_factory=dict)
    country_day: dict[tuple[date, str, str], dict[str, int]] = field(default_factory=dict)
    host_day: dict[tuple[date, str], dict[str, int]] = field(default_factory=dict)


def make_rows(days: list[date], people: list[Person], *, per_person_day: int = 12, seed: int = 7,
              prefix: str = "t") -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    hosts = [*HOSTS, NAMED_HOST]
    rows = []
    n = 0
    for day in days:
        for person in people:
            for _ in range(rnd.randint(per_person_day // 2, per_person_day)):
                host = rnd.choice(hosts)
                at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=rnd.randint(0, 86399))
                row = {
                    "RequestID": f"{prefix}-{n:06d}", "Datetime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "HTTPHost": host, "URL": f"https://{host}/x/{rnd.randint(1, 99)}",
                    "HTTPMethod": rnd.choice(["GET", "POST"]), "HTTPStatusCode": 200,
                    "Action": rnd.choice(["allow", "allow", "allow", "block"]),
                    "UploadBytes": rnd.randint(0, 50_000), "DownloadBytes": rnd.randint(0, 200_000),
                    "DeviceID": person.device_id, "DeviceName": person.device_name,
                    "SourceIPCountryCode": rnd.choice(COUNTRIES),
                }
                if person.email:
                    row["Email"] = person.email
                if host == NAMED_HOST:
                    row["ApplicationNames"] = [NAMED_AS]
                elif rnd.random() < 0.3 and HOSTS[host] is None:
                    row["ApplicationNames"] = ["Something Else"]
                if not row["SourceIPCountryCode"]:
                    del row["SourceIPCountryCode"]
                rows.append(row)
                n += 1
    return rows


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def expected(rows: list[dict[str, Any]], people: list[Person]) -> Expected:
    """Aggregate the rows the way the rollups must (UTC days)."""
    counted = {p.device_id: p for p in people}
    out = Expected()
    app_users: dict[tuple[date, str], set[str]] = defaultdict(set)
    app_devices: dict[tuple[date, str], set[str]] = defaultdict(set)
    country_users: dict[tuple[date, str, str], set[str]] = defaultdict(set)
    host_users: dict[tuple[date, str], set[str]] = defaultdict(set)
    person_apps: dict[tuple[date, str], set[str]] = defaultdict(set)
    person_ai_apps: dict[tuple[date, str], set[str]] = defaultdict(set)

    def add(table: dict, key: tuple, **values: int) -> None:
        slot = table.setdefault(key, dict.fromkeys(values, 0))
        for name, value in values.items():
            slot[name] += value

    for row in rows:
        day = datetime.strptime(row["Datetime"], "%Y-%m-%dT%H:%M:%SZ").date()
        host = row["HTTPHost"]
        app = NAMED_APP if host == NAMED_HOST else HOSTS[host]
        person = counted[row["DeviceID"]].counted_as
        up, down = row["UploadBytes"], row["DownloadBytes"]
        country = row.get("SourceIPCountryCode", "")
        if app is None:
            add(out.host_day, (day, host), requests=1, bytes_up=up, bytes_down=down)
            if person:
                host_users[(day, host)].add(person)
            continue
        add(out.app_day, (day, app), requests=1, bytes_up=up, bytes_down=down,
            blocked=1 if row["Action"] == "block" else 0)
        app_devices[(day, app)].add(row["DeviceID"])
        add(out.country_day, (day, app, country), requests=1, bytes_up=up, bytes_down=down)
        if person:
            country_users[(day, app, country)].add(person)
        ai = app in GEN_AI
        add(out.device_day, (day, row["DeviceID"]), requests=1, bytes_up=up, bytes_down=down,
            ai_requests=int(ai), ai_bytes_up=up if ai else 0, ai_bytes_down=down if ai else 0)
        if person:
            app_users[(day, app)].add(person)
            add(out.app_person_day, (day, app, person), requests=1, bytes_up=up, bytes_down=down)
            add(out.person_day, (day, person), requests=1, bytes_up=up, bytes_down=down, ai_requests=int(ai),
                ai_bytes_up=up if ai else 0, ai_bytes_down=down if ai else 0)
            person_apps[(day, person)].add(app)
            if ai:
                person_ai_apps[(day, person)].add(app)
    for key, slot in out.app_day.items():
        slot["users"] = len(app_users[key])
        slot["devices"] = len(app_devices[key])
    for key, slot in out.country_day.items():
        slot["users"] = len(country_users[key])
    for key, slot in out.host_day.items():
        slot["users"] = len(host_users[key])
    for key, slot in out.person_day.items():
        slot["apps"] = len(person_apps[key])
        slot["ai_apps"] = len(person_ai_apps[key])
    return out
