"""Demo applications, policies and devices for the demo organization (idempotent)."""

from __future__ import annotations

import os

from django.db import transaction

from accounts.models import Group, User
from console.access import policies
from console.access.models import Application, ApplicationPolicy, Device, Policy
from console.audit.services import audit_record
from console.core import demo

DOMAIN = "acme.example"

POLICIES = {
    "Block sanctioned countries": ("block", {"include": [{"type": "country", "values": ["KP", "IR", "SY", "CU"]}]}),
    "All staff": ("allow", {"include": [{"type": "email_domain", "values": [DOMAIN]}]}),
    "Contractors": ("allow", {"include": [{"type": "group", "groups": ["Contractors"]}]}),
    "Engineering and Security": ("allow", {"include": [{"type": "group", "groups": ["Engineering", "Security"]}]}),
    "Finance with a security key": ("allow", {
        "include": [{"type": "group", "groups": ["Finance"]}],
        "require": [{"type": "mfa_method", "values": ["security_key"], "max_age_minutes": 60}],
    }),
    "Health checks from the data centre": ("bypass", {"include": [{"type": "ip_range", "values": ["10.20.0.0/16"]}]}),
    # Step-up a newcomer can try as employee@: the App Launcher asks for the extra check, the
    # verify page takes it, and the launch goes on to the application.
    "All staff with a security key": ("allow", {
        "include": [{"type": "email_domain", "values": [DOMAIN]}],
        "require": [{"type": "mfa_method", "values": ["security_key"], "max_age_minutes": 60}],
    }),
    "All staff with a fresh authenticator app code": ("allow", {
        "include": [{"type": "email_domain", "values": [DOMAIN]}],
        "require": [{"type": "mfa_method", "values": ["totp"], "max_age_minutes": 5}],
    }),
}

APPLICATIONS = (
    ("Company Wiki", "self_hosted", "wiki.acme.example", "", "Handbook, runbooks and team pages.",
     ["Block sanctioned countries", "All staff", "Contractors"]),
    ("Grafana", "self_hosted", "grafana.acme.example", "", "Production dashboards.",
     ["Health checks from the data centre", "Block sanctioned countries", "Engineering and Security"]),
    ("GitHub", "saas", "", "https://github.com/acme-example", "Source code.", ["Engineering and Security"]),
    ("Payroll", "saas", "", "https://payroll.acme.example", "Salaries and payslips.",
     ["Finance with a security key"]),
    ("Internal LLM", "llm", "llm.acme.example", "", "The company's self-hosted model endpoint.",
     ["Block sanctioned countries", "All staff"]),
    ("Docs MCP server", "mcp", "mcp.acme.example", "", "Internal documentation for AI assistants.",
     ["Engineering and Security"]),
    ("Employee handbook", "bookmark", "", "https://handbook.acme.example", "Policies and benefits.",
     ["All staff"]),
    ("Release console", "self_hosted", "deploy.acme.example", "",
     "Ships to production. Opens after a security key check (within the hour).",
     ["Block sanctioned countries", "All staff with a security key"]),
    ("Expense reports", "self_hosted", "expenses.acme.example", "",
     "Claims and receipts. Opens after an authenticator app code from the last 5 minutes.",
     ["Block sanctioned countries", "All staff with a fresh authenticator app code"]),
)
# The demo application ``./dev run`` serves behind nginx (console/access/proxy/demo_app.py): a real
# application a newcomer signs in to, steps up for, reaches, and is revoked from. ``./dev run``
# sets DEMO_APP_URL to where its nginx listens.
DEMO_APP_HOST = "app.localhost"
DEMO_APP_NAME = "Demo application"


def demo_app_url() -> str:
    return os.environ.get("DEMO_APP_URL", f"http://{DEMO_APP_HOST}:8088/")


# The applications above that ask the demo employee for step-up (printed by ``seed_demo``).
STEP_UP_APPLICATIONS = {"Release console": "a security key", "Expense reports": "an authenticator app code"}


def _rules(rules: dict, groups: dict[str, int]) -> dict:
    resolved = {}
    for kind, configs in rules.items():
        resolved[kind] = []
        for config in configs:
            config = dict(config)
            if "groups" in config:
                config["values"] = [groups[g] for g in config.pop("groups")]
            resolved[kind].append(config)
    return resolved


@transaction.atomic
def seed_access_demo() -> dict[str, int]:
    groups = dict(Group.objects.values_list("name", "pk"))
    stored = {}
    for name, (action, rules) in POLICIES.items():
        policy, _ = Policy.objects.update_or_create(
            name=name, defaults={"action": action, "rules": _rules(rules, groups)}
        )
        stored[name] = policy
    for name, kind, domain, url, description, attached in APPLICATIONS:
        app, _ = Application.objects.update_or_create(name=name, defaults={
            "type": kind, "domain": domain, "url": url, "description": description, "launcher_visible": True,
        })
        ApplicationPolicy.objects.filter(application=app).delete()
        ApplicationPolicy.objects.bulk_create([
            ApplicationPolicy(application=app, policy=stored[p], position=n) for n, p in enumerate(attached, start=1)
        ])
    demo_app, _ = Application.objects.update_or_create(name=DEMO_APP_NAME, defaults={
        "type": "self_hosted", "domain": DEMO_APP_HOST, "url": demo_app_url(), "launcher_visible": True,
        "description": "Runs on this machine behind nginx (./dev run): shows who Access says you are. "
                       "Opens after an authenticator app code from the last 5 minutes.",
    })
    ApplicationPolicy.objects.filter(application=demo_app).delete()
    ApplicationPolicy.objects.create(application=demo_app, position=1,
                                     policy=stored["All staff with a fresh authenticator app code"])
    applications = len(APPLICATIONS) + 1
    devices = 0
    for email, name, os_name, version, managed, encrypted, edr in (
        (f"employee@{DOMAIN}", "Emery's MacBook Pro", "macOS", "15.1", True, True, 92),
        (f"admin@{DOMAIN}", "Alex's ThinkPad", "Windows", "11.24H2", True, True, 88),
        (f"security@{DOMAIN}", "Sam's MacBook Air", "macOS", "14.6", True, True, 95),
        (f"hr@{DOMAIN}", "Harper's laptop", "Windows", "10.22H2", False, False, 41),
    ):
        user = User.objects.filter(email=email).first()
        if user is None:
            continue
        Device.objects.update_or_create(device_id=f"demo-{email.split('@')[0]}", defaults={
            "user": user, "name": name, "os": os_name, "os_version": version, "managed": managed,
            "disk_encrypted": encrypted, "edr_score": edr,
        })
        devices += 1
    audit_record(actor=None, action="demo.seeded", object_type="access.application",
                 object_repr=f"Demo Access setup: {applications} applications, {len(POLICIES)} policies",
                 changes={"applications": applications, "policies": len(POLICIES), "devices": devices})
    transaction.on_commit(policies.bump_version)
    return {"applications": applications, "policies": len(POLICIES), "devices": devices}


@demo.register("access", order=20)
def seed_step(run: demo.DemoRun) -> list[str]:
    access = seed_access_demo()
    return [f"Access: {access['applications']} applications, {access['policies']} policies, "
            f"{access['devices']} devices.",
            "Step-up: as employee@, open " + " and ".join(f"{name} ({needs})" for name, needs
                                                       in STEP_UP_APPLICATIONS.items()) + " in the App Launcher.",
            f"Behind nginx: {DEMO_APP_NAME} at {demo_app_url()} (employee@, after an authenticator app code)."]
