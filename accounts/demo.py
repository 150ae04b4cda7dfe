"""A realistic demo organization: people across groups, with managers, titles and countries.

Deterministic for a given seed, and idempotent: running it again updates the same people
(matched by e-mail) instead of adding more."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from accounts.models import Group, User
from accounts.services.groups import group_membership_set
from console.audit.services import audit_record
from console.core import demo
from console.core.roles import Role

DOMAIN = "acme.example"
DEFAULT_PASSWORD = "ZeroTrust-demo-2026"  # noqa: S105 - printed for the demo on purpose

FIRST = (
    "Ada Alan Amara Ana Andrés Anika Aoife Arjun Astrid Ayşe Bao Beatriz Bilal Camille Carlos "
    "Chen Chiara Chloé Dara David Dmitri Elena Elif Emeka Emma Eun-ji Farah Fatima Felix Finn "
    "Gabriel Grace Hana Hannah Hiro Ibrahim Ines Ingrid Isaac Ivan Jamal Jana Javier Jin Johan "
    "Joseph Julia Kai Karin Kavya Kenji Khalid Lars Layla Leila Liam Lina Luca Lucía Magnus Maja "
    "Malik Maria Mateo Mei Mia Mohammed Nadia Naomi Nikolai Noah Nora Olga Omar Oskar Priya Rafael "
    "Ravi Rosa Rui Sakura Samir Sara Sean Sofia Sven Tariq Thomas Tomás Valentina Wei Yara Yusuf Zoe"
).split()
LAST = (
    "Abe Adeyemi Alvarez Andersen Bauer Becker Bianchi Brown Chen Costa Cruz Dubois Eriksson "
    "Fernandes Fischer García Gómez Haddad Hansen Hoffmann Ivanova Jansen Kaya Khan Kim Kowalski "
    "Kumar Larsen Lee Lopez Martin Meyer Moreau Müller Nakamura Nguyen Novak Okafor Olsen Park "
    "Patel Pereira Petrov Rossi Santos Schmidt Silva Singh Smith Sousa Suzuki Tanaka Taylor "
    "Tran Wagner Wang Weber Williams Wong Yamamoto Yilmaz Zhang"
).split()

# name, description, share of people, country weights, titles (first is the head's)
GROUPS = (
    ("Engineering", "Product and platform engineers.", 0.36,
     {"DE": 4, "US": 4, "PL": 2, "IN": 3, "PT": 1, "CA": 1},
     ["VP Engineering", "Software Engineer", "Senior Software Engineer", "Site Reliability Engineer",
      "Engineering Manager", "Staff Engineer", "QA Engineer"]),
    ("Sales", "Account executives and sales engineers.", 0.2,
     {"US": 5, "GB": 3, "FR": 2, "DE": 2, "JP": 1, "BR": 1},
     ["VP Sales", "Account Executive", "Sales Engineer", "Sales Development Rep", "Regional Sales Manager"]),
    ("Finance", "Accounting, payroll and FP&A.", 0.1,
     {"US": 3, "GB": 2, "DE": 1, "IE": 1},
     ["CFO", "Accountant", "Financial Analyst", "Payroll Specialist", "Controller"]),
    ("HR", "People operations and recruiting.", 0.08,
     {"US": 2, "DE": 1, "GB": 1},
     ["Head of People", "HR Business Partner", "Recruiter", "People Operations Specialist"]),
    ("Security", "Security engineering, IT and compliance.", 0.08,
     {"US": 2, "DE": 2, "IL": 1, "NL": 1},
     ["CISO", "Security Engineer", "IT Administrator", "GRC Analyst", "Incident Responder"]),
    ("Contractors", "External contractors with time-limited access.", 0.18,
     {"IN": 4, "PH": 2, "UA": 2, "BR": 2, "AR": 1, "VN": 1},
     ["Contractor Lead", "Contract Developer", "Contract Designer", "Contract Support Agent"]),
)

# The people whose passwords are printed: one per role.
DEMO_LOGINS = (
    ("admin", "Alex Admin", Role.SUPER_ADMIN, "Security", "IT Director"),
    ("security", "Sam Secops", Role.SECURITY_ADMIN, "Security", "Security Engineer"),
    ("hr", "Harper People", Role.HR, "HR", "HR Business Partner"),
    ("auditor", "Avery Audit", Role.AUDITOR, "Finance", "Internal Auditor"),
    ("employee", "Emery Employee", Role.EMPLOYEE, "Engineering", "Software Engineer"),
)


@dataclass
class DemoResult:
    users: int
    groups: int
    logins: list[tuple[str, str]]
    password: str


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@transaction.atomic
def seed_demo(*, users: int = 200, seed: int = 7, password: str = DEFAULT_PASSWORD) -> DemoResult:
    """Create or refresh the demo organization with ``users`` people in total."""
    rng = random.Random(seed)
    # A second stream for values added later (join dates), so they do not shift the names.
    dates = random.Random(seed * 7919)
    groups = {}
    for name, description, *_ in GROUPS:
        group, _ = Group.objects.update_or_create(name=name, defaults={"description": description})
        groups[name] = group

    hashed = make_password(password)
    people: list[tuple[User, str]] = []
    for local, full_name, role, group_name, title in DEMO_LOGINS:
        email = f"{local}@{DOMAIN}"
        user, _ = User.objects.update_or_create(email=email, defaults={
            "full_name": full_name, "role": role, "title": title, "country": "US",
            "source": User.Source.DEMO, "is_active": True, "password": hashed,
        })
        people.append((user, group_name))

    remaining = max(users - len(DEMO_LOGINS), 0)
    used: set[str] = {u.email for u, _ in people}
    heads: dict[str, User] = {}
    plan: list[tuple[str, int]] = []
    allotted = 0
    for index, (name, *_rest) in enumerate(GROUPS):
        share = _rest[1]
        count = remaining - allotted if index == len(GROUPS) - 1 else round(remaining * share)
        count = max(min(count, remaining - allotted), 0)
        plan.append((name, count))
        allotted += count

    spec = {g[0]: g for g in GROUPS}
    for name, count in plan:
        _, _, _, countries, titles = spec[name]
        for i in range(count):
            while True:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                local = f"{first}.{last}".lower().replace(" ", "")
                local = local.translate(str.maketrans("áéíóúüöçñşãøåäğı", "aeiouuocnsaoaagi"))
                email = f"{local}@{DOMAIN}"
                if name == "Contractors":
                    email = f"{local}@contractors.{DOMAIN}"
                if email not in used:
                    used.add(email)
                    break
            title = titles[0] if i == 0 else rng.choice(titles[1:])
            user, _ = User.objects.update_or_create(email=email, defaults={
                "full_name": f"{first} {last}", "role": Role.EMPLOYEE, "title": title,
                "country": _pick(rng, countries), "source": User.Source.DEMO, "is_active": True,
                "date_joined": timezone.now() - timedelta(days=dates.randint(20, 1500)),
            })
            if user.has_usable_password():
                user.set_unusable_password()
                user.save(update_fields=["password"])
            if i == 0:
                heads[name] = user
            people.append((user, name))

    for user, group_name in people:
        head = heads.get(group_name)
        manager = head if head is not None and head.pk != user.pk else None
        if user.manager_id != (manager.pk if manager else None):
            user.manager = manager
            user.save(update_fields=["manager"])
        group_membership_set(actor=None, group=groups[group_name], user=user, system_reason="demo data")

    audit_record(
        actor=None, action="demo.seeded", object_type="accounts.user",
        object_repr=f"Demo organization: {len(people)} people in {len(groups)} groups",
        changes={"users": len(people), "groups": len(groups), "seed": seed},
    )
    return DemoResult(
        users=len(people), groups=len(groups),
        logins=[(f"{local}@{DOMAIN}", Role(role).label) for local, _, role, _, _ in DEMO_LOGINS],
        password=password,
    )


@demo.register("people", order=10)
def seed_people_step(run: demo.DemoRun) -> list[str]:
    result = seed_demo(users=run.users, seed=run.seed, password=run.password)
    run.logins, run.password = result.logins, result.password
    return [f"Demo organization ready: {result.users} people in {result.groups} groups."]


@demo.register("logins", order=90)
def print_logins_step(run: demo.DemoRun) -> list[str]:
    return [f"Demo logins (password: {run.password}):", *(f"  {role:<15} {email}" for email, role in run.logins)]
