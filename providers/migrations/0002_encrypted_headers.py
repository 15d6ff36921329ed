"""Credential headers move out of `config` into an encrypted field (they may hold secrets), and
short keys lose their shown last four characters (kept only for keys of 12 characters or more)."""

import json

from django.db import migrations, models


def encrypt_headers(apps, schema_editor):  # type: ignore[no-untyped-def]
    from providers import crypto
    from providers.models import secret_last4

    Credential = apps.get_model("providers", "ProviderCredential")
    for credential in Credential.objects.all().iterator():
        config = dict(credential.config or {})
        headers = config.pop("headers", None)
        if headers:
            credential.encrypted_headers = crypto.encrypt(json.dumps(headers))
        credential.config = config
        if credential.encrypted_api_key:
            try:
                credential.api_key_last4 = secret_last4(crypto.decrypt(credential.encrypted_api_key))
            except crypto.SecretUnreadable:
                credential.api_key_last4 = ""
        credential.save(update_fields=["encrypted_headers", "config", "api_key_last4"])


class Migration(migrations.Migration):
    dependencies = [("providers", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="providercredential",
            name="encrypted_headers",
            field=models.TextField(blank=True, help_text="Fernet token of the headers' JSON; never plaintext."),
        ),
        migrations.RunPython(encrypt_headers, migrations.RunPython.noop),
    ]
