from django.db import migrations


def create_predefined(apps, schema_editor) -> None:
    from shadow_ai.dlp import predefined

    predefined.sync(apps.get_model("dlp", "DlpProfile"), apps.get_model("dlp", "DlpEntry"))


class Migration(migrations.Migration):
    dependencies = [("dlp", "0001_initial")]

    operations = [migrations.RunPython(create_predefined, migrations.RunPython.noop)]
