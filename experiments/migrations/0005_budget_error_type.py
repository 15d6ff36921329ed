from django.db import migrations


def forwards(apps, schema_editor):
    # Attempts stopped by a budget said "budget_exceeded" while the run said "budget_exhausted":
    # one name now (AttemptErrorType.BUDGET_EXHAUSTED = StopReason.BUDGET).
    Attempt = apps.get_model("experiments", "Attempt")
    Attempt.objects.filter(error_type="budget_exceeded").update(error_type="budget_exhausted")


def backwards(apps, schema_editor):
    Attempt = apps.get_model("experiments", "Attempt")
    Attempt.objects.filter(error_type="budget_exhausted").update(error_type="budget_exceeded")


class Migration(migrations.Migration):
    dependencies = [("experiments", "0004_evaluations")]
    operations = [migrations.RunPython(forwards, backwards, elidable=True)]
