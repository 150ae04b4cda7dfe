from django.core.management.base import BaseCommand, CommandParser

from accounts.demo import DEFAULT_PASSWORD, seed_demo
from accounts.onboarding.demo import seed_onboarding_demo
from console.access.demo import seed_access_demo
from mfa.demo import demo_secret, seed_mfa_demo
from risk.demo import seed_risk_demo
from shadow_ai.casb.demo import seed_casb_demo
from shadow_ai.demo import seed_shadow_ai_demo


class Command(BaseCommand):
    help = "Create or refresh a realistic demo organization (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=200, help="People in total (default 200).")
        parser.add_argument("--seed", type=int, default=7, help="Random seed (same seed, same people).")
        parser.add_argument("--password", default=DEFAULT_PASSWORD, help="Password of the demo logins.")

    def handle(self, *args, users: int, seed: int, password: str, **options) -> None:
        if users < 5:
            self.stderr.write("--users must be at least 5 (one demo login per role).")
            raise SystemExit(2)
        result = seed_demo(users=users, seed=seed, password=password)
        self.stdout.write(f"Demo organization ready: {result.users} people in {result.groups} groups.")

        access = seed_access_demo()
        self.stdout.write(
            f"Access: {access['applications']} applications, {access['policies']} policies, "
            f"{access['devices']} devices."
        )

        risk = seed_risk_demo()
        self.stdout.write(f"Risk: {risk['events']} new telemetry events, {risk['scored']} people scored.")

        onboarding = seed_onboarding_demo()
        if onboarding["providers"]:
            self.stdout.write(
                f"Onboarding: the development identity-verification provider and {onboarding['cases']} new case(s)."
            )

        shadow = seed_shadow_ai_demo()
        self.stdout.write(
            f"Shadow AI: {shadow['applications']} applications in the library, {shadow['reviewed']} reviewed, "
            f"{shadow['policies']} Gateway policies; {shadow['usage_rows']} new Gateway log rows for the usage "
            f"dashboards, {shadow['usage_days']} day(s) rolled up."
        )

        casb = seed_casb_demo()
        self.stdout.write(
            f"CASB: {casb['integrations']} demo integrations (sample data, never scanned) with {casb['findings']} "
            "findings."
        )
        self.stdout.write(f"Demo logins (password: {result.password}):")
        for email, role in result.logins:
            self.stdout.write(f"  {role:<15} {email}")

        with_mfa = seed_mfa_demo([email for email, _ in result.logins])
        if with_mfa:
            self.stdout.write(
                f"The console asks {', '.join(e.split('@')[0] for e in with_mfa)} for MFA: their demo authenticator "
                f"app key is {demo_secret()} (add it to any authenticator app), or print the current code with"
            )
            self.stdout.write(f"  .venv/bin/python manage.py demo_totp {with_mfa[0]}")
