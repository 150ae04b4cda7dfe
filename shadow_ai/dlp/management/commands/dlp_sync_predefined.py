from django.core.management.base import BaseCommand

from shadow_ai.dlp import services


class Command(BaseCommand):
    help = "Create or update the predefined DLP profiles and entries from the engine's list."

    def handle(self, *args, **options) -> None:
        result = services.predefined_sync(actor=None, system=True)
        self.stdout.write(
            f"{result.profiles_created} profile(s) and {result.entries_created} entrie(s) created, "
            f"{result.entries_renamed} renamed, {result.entries_removed} removed."
        )
