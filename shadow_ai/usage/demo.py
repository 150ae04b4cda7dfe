"""Demo Gateway HTTP logs for the usage dashboards: the last 30 days of the demo organization's
employees using AI and SaaS applications (and a few hosts the library does not know), stored
through the ingest's storage and rolled up. Idempotent: rows are keyed by date and person, so a
second run the same day stores nothing new."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from accounts.models import User
from console.access.models import Device
from risk.ingest import storage
from shadow_ai.usage import rollup, services

# (host, weight, bytes up per request, bytes down per request): what people open most.
EVERYONE = [
    ("chatgpt.com", 9, 6000, 40000), ("claude.ai", 12, 5000, 35000), ("gemini.google.com", 4, 3000, 30000),
    ("copilot.cloud.microsoft", 6, 2500, 20000), ("www.notion.so", 6, 1500, 50000), ("slack.com", 14, 800, 9000),
    ("zoom.us", 4, 200, 90000), ("docs.google.com", 8, 2000, 60000), ("app.grammarly.com", 3, 4000, 2000),
    ("www.perplexity.ai", 3, 900, 15000), ("mail.google.com", 8, 3000, 40000), ("intranet.acme.example", 5, 500, 8000),
]
ENGINEERS = [("api.githubcopilot.com", 10, 8000, 9000), ("cursor.com", 4, 12000, 15000),
             ("github.com", 10, 1500, 45000), ("chat.deepseek.com", 2, 20000, 30000)]
RARE = [("character.ai", 1, 500, 30000), ("gamma.app", 1, 3000, 80000), ("tools.ai-notes.example", 1, 9000, 4000)]
NEW_APP = ("manus.im", 2, 7000, 25000)  # first used two days ago: a newly seen application
COUNTRIES = ["US"] * 12 + ["GB"] * 3 + ["DE"] * 2 + ["IN", "CA", "FR"]


def seed_usage_demo(days: int = 30) -> dict[str, int]:
    people = list(User.objects.filter(role="employee", is_active=True).order_by("email")
                  .values_list("pk", "email")[:150])
    if not people:
        return {"rows": 0, "days": 0}
    devices = dict(Device.objects.filter(user_id__in=[pk for pk, _ in people]).order_by("pk")
                   .values_list("user_id", "device_id"))
    today = rollup.today()
    cutoff = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # the same rows all hour long
    rows = []
    for offset in range(days):
        day = today - timedelta(days=offset)
        for pk, email in people:
            rnd = random.Random(f"{day}:{email}")
            if day.weekday() >= 5 and rnd.random() < 0.8:
                continue  # quiet weekends
            choices = list(EVERYONE)
            if rnd.random() < 0.35 or "eng" in email:
                choices += ENGINEERS
            if rnd.random() < 0.08:
                choices += RARE
            if offset <= 1 and rnd.random() < 0.15:
                choices.append(NEW_APP)
            hosts = rnd.choices(choices, weights=[c[1] for c in choices], k=rnd.randint(8, 40))
            country = rnd.choice(COUNTRIES)
            start = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
            for n, (host, _, up, down) in enumerate(hosts):
                at = start + timedelta(seconds=rnd.randint(0, 10 * 3600))
                if at >= cutoff:
                    continue
                rows.append({
                    "event_key": f"demo:usage:{day}:{pk}:{n}", "at": at, "email": email, "user_id": pk,
                    "device_id": devices.get(pk, f"demo-laptop-{pk}"),
                    "device_name": f"Laptop of {email.split('@')[0]}",
                    "host": host, "url": f"https://{host}/", "http_method": rnd.choice(["GET", "GET", "POST"]),
                    "http_status": 200, "action": "allow", "source_country": country,
                    "bytes_sent": int(up * rnd.uniform(0.2, 2.5)), "bytes_received": int(down * rnd.uniform(0.2, 2.5)),
                    "user_agent": "Mozilla/5.0 (demo)",
                })
    stored = storage.store("gateway_http", rows, source_id=None)
    run = services.rollup_scheduled()
    return {"rows": len(stored.ids), "days": run.days_done if run else 0}
