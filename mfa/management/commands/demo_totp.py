from django.core.management.base import BaseCommand, CommandError, CommandParser

from mfa.demo import DemoRefused, current_code, otpauth_uri


class Command(BaseCommand):
    help = "Print the current code of a demo login's demo authenticator (development and demo only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="A demo login, e.g. admin@acme.example")
        parser.add_argument("--uri", action="store_true",
                            help="Also print the otpauth:// URI for an authenticator app.")

    def handle(self, *args, email: str, uri: bool, **options) -> None:
        try:
            code = current_code(email)
        except DemoRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(code)
        if uri:
            self.stdout.write(otpauth_uri(email))
