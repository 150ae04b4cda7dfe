from django.db import migrations, models


def _fillfactor(value: str):
    def apply(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE risk_userrisk {value}")

    return apply


class Migration(migrations.Migration):
    """Scores are rewritten in place: no index on the level, and room in each page for a row's
    new version (PostgreSQL's heap-only updates)."""

    dependencies = [
        ("risk", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="userrisk",
            name="level",
            field=models.PositiveSmallIntegerField(
                choices=[(0, "Unscored"), (1, "Low"), (2, "Medium"), (3, "High")], default=0,
            ),
        ),
        migrations.RunPython(_fillfactor("SET (fillfactor = 70)"), _fillfactor("RESET (fillfactor)")),
    ]
