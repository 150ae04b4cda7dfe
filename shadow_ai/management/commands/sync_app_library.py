from django.core.management.base import BaseCommand, CommandError

from shadow_ai.catalogue import CatalogueError, sync_library


class Command(BaseCommand):
    help = ("Bring the application library in step with the catalogue shipped with this release "
            "(idempotent; run after migrate on every deployment).")

    def handle(self, *args, **options) -> None:
        try:
            result = sync_library()
        except CatalogueError as exc:
            raise CommandError(f"The shipped application catalogue is invalid: {exc}") from None
        self.stdout.write(
            f"Application library {result.version}: {result.total} catalogue applications, "
            f"{len(result.created)} added, {len(result.updated)} updated, {result.unchanged} unchanged."
        )
        for host, app, owner in result.hostnames_kept_elsewhere:
            self.stdout.write(f"  {host} stays with {owner} (the catalogue lists it for {app})")
        for name in result.names_taken:
            self.stdout.write(f"  skipped {name}: a custom application already has that name")
