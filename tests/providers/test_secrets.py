"""Must show: the database column holds ciphertext, and no API response, admin page, log line or
exception message contains the plaintext key."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from providers import crypto
from providers.context import context_load
from providers.gateway import complete
from providers.interface import ProviderError
from providers.models import ProviderCredential
from providers.requests import completion_request
from providers.services import credential_rotate_all, credential_set
from tests.conftest import bearer
from tests.fakes.base import Reply
from tests.fakes.openai_server import OPENAI_ERRORS
from tests.providers.conftest import OPENAI_KEY

pytestmark = pytest.mark.django_db

SECRET = OPENAI_KEY  # what the fake server accepts
WRONG_SECRET = "sk-live-DO-NOT-LEAK-0123456789abcdef"


def stored_column(credential_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT encrypted_api_key FROM providers_providercredential WHERE id = %s", [credential_id])
        return cursor.fetchone()[0]


def test_database_column_holds_ciphertext(gw_org) -> None:  # type: ignore[no-untyped-def]
    credential = credential_set(org=gw_org, provider="openai", api_key=SECRET)
    column = stored_column(credential.pk)
    assert SECRET not in column and SECRET[-12:] not in column
    assert column.startswith("gAAAAA")  # a Fernet token
    assert crypto.decrypt(column) == SECRET
    assert credential.api_key_last4 == SECRET[-4:]


def test_keys_rotate_with_multifernet(gw_org, settings) -> None:  # type: ignore[no-untyped-def]
    credential = credential_set(org=gw_org, provider="openai", api_key=SECRET)
    old_key = settings.BENCHHUB_CREDENTIALS_KEY[0]
    new_key = Fernet.generate_key().decode()
    settings.BENCHHUB_CREDENTIALS_KEY = [new_key, old_key]  # newest first; the old one still decrypts
    assert crypto.decrypt(stored_column(credential.pk)) == SECRET
    assert credential_rotate_all() == 1
    settings.BENCHHUB_CREDENTIALS_KEY = [new_key]  # the old key retired
    assert crypto.decrypt(stored_column(credential.pk)) == SECRET


def test_without_a_configured_key_one_is_derived_from_secret_key(settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_CREDENTIALS_KEY = []
    token = crypto.encrypt("sk-local-demo")
    assert "sk-local-demo" not in token and crypto.decrypt(token) == "sk-local-demo"


def test_api_responses_never_contain_the_secret(gw_org, org_world, api_client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    client = bearer(api_client, org_world.a.keys["admin"])
    created = client.post("/api/v1/credentials/", {
        "provider": "openai", "api_key": SECRET, "base_url": fake_openai.url + "/v1", "config": {"max_concurrency": 4},
    }, format="json")
    assert created.status_code == 201
    assert created.json()["api_key_last4"] == SECRET[-4:]
    listed = client.get("/api/v1/credentials/")
    detail = client.get(f"/api/v1/credentials/{created.json()['id']}/")
    chat = client.post("/api/v1/chat/", {
        "provider": "openai", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
    }, format="json")
    assert chat.status_code == 200
    fake_openai.script(Reply.error(*OPENAI_ERRORS["server_error"]))
    client.post("/api/v1/credentials/", {"provider": "openai", "api_key": WRONG_SECRET,
                                         "base_url": fake_openai.url + "/v1"}, format="json")
    failed = client.post("/api/v1/chat/", {
        "provider": "openai", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
        "config": {"max_retries": 0, "cache": False},
    }, format="json")
    assert failed.status_code == 502
    for response in (created, listed, detail, chat, failed):
        body = response.content.decode()
        assert SECRET not in body and WRONG_SECRET not in body
        assert "encrypted_api_key" not in body


def test_admin_pages_never_contain_the_secret(gw_org, client) -> None:  # type: ignore[no-untyped-def]
    credential = credential_set(org=gw_org, provider="openai", api_key=SECRET)
    assert client.login(email="admin@org-a.test", password="pw-admin")
    pages = [
        client.get("/admin/providers/providercredential/"),
        client.get(f"/admin/providers/providercredential/{credential.pk}/change/"),
        client.get("/admin/providers/providercredential/add/"),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert SECRET not in html
        assert stored_column(credential.pk) not in html  # not even the ciphertext
    assert f"••••{SECRET[-4:]}" in pages[0].content.decode()


def test_admin_edit_with_blank_key_keeps_it_and_a_new_key_is_encrypted(gw_org, client) -> None:  # type: ignore[no-untyped-def]
    credential = credential_set(org=gw_org, provider="openai", api_key=SECRET)
    assert client.login(email="admin@org-a.test", password="pw-admin")
    url = f"/admin/providers/providercredential/{credential.pk}/change/"
    form = {"org": gw_org.pk, "provider": "openai", "name": "renamed", "api_key": "", "base_url": "",
            "api_version": "", "config": "{}"}
    assert client.post(url, form).status_code == 302
    credential.refresh_from_db()
    assert credential.name == "renamed" and crypto.decrypt(credential.encrypted_api_key) == SECRET
    response = client.post(url, {**form, "api_key": WRONG_SECRET})
    assert response.status_code == 302 and WRONG_SECRET not in response.content.decode()
    assert WRONG_SECRET not in stored_column(credential.pk)
    assert crypto.decrypt(stored_column(credential.pk)) == WRONG_SECRET


def test_log_lines_and_exceptions_never_contain_the_secret(gw_org, fake_openai, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    credential_set(org=gw_org, provider="openai", api_key=SECRET, base_url=fake_openai.url + "/v1")
    request = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], config={"max_retries": 0})
    complete(org_id=gw_org.pk, provider="openai", request=request)
    credential_set(org=gw_org, provider="openai", api_key=WRONG_SECRET, base_url=fake_openai.url + "/v1")
    with pytest.raises(ProviderError) as caught:
        complete(org_id=gw_org.pk, provider="openai", request=request)
    error = caught.value
    rendered = " ".join([str(error), repr(error), repr(error.errors), repr(error.raw), repr(error.as_dict())])
    assert WRONG_SECRET not in rendered and SECRET not in rendered
    endpoint = context_load(org_id=gw_org.pk, provider="openai").endpoint
    assert WRONG_SECRET not in repr(endpoint)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "provider_call" in logged
    assert SECRET not in logged and WRONG_SECRET not in logged
    assert ProviderCredential.objects.filter(encrypted_api_key__contains=WRONG_SECRET).count() == 0
