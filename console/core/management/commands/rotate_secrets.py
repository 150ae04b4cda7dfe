from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from console.core.fields import EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS. "
        "Run it after putting a new key first; afterwards the old key can be removed."
    )

    def handle(self, *args, **options) -> None:
        total = 0
        for model in apps.get_models():
            columns = [
                f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)
            ]
            if not columns:
                continue
            with transaction.atomic():
                # Reading decrypts with any configured key; writing encrypts with the first one.
                rows = model.objects.select_for_update().values_list("pk", *columns)
                for pk, *values in rows:
                    updates = {c: v for c, v in zip(columns, values, strict=True) if v}
                    if updates:
                        model.objects.filter(pk=pk).update(**updates)
                        total += 1
            self.stdout.write(f"{model._meta.label}: {', '.join(columns)}")
        self.stdout.write(f"{total} row(s) re-encrypted under the current key.")
