from django.core.management.base import BaseCommand, CommandParser

from accounts.demo import DEFAULT_PASSWORD
from console.core import demo


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
        # Each app's demo.py registers its step (console.core.demo); they run in their order.
        run = demo.DemoRun(users=users, seed=seed, password=password)
        for step in demo.steps():
            for line in step.run(run):
                self.stdout.write(line)
