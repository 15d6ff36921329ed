"""Server-side request forgery: a credential's base_url and headers are a member's hostile input.

The corpus: every private range, IPv6 spellings of IPv4 ones, decimal/octal/hex IPv4, names that
resolve to loopback, a DNS answer that changes between save and call (rebinding), redirects to
loopback, and the platform's own database and Redis. Refused at save (a readable error) and at
every connection (the guard that counts), through the real SDKs against the fake servers.
"""

from __future__ import annotations

import pytest
from django.db import connection

from providers.gateway import complete
from providers.interface import ErrorType, ProviderError
from providers.models import ProviderCredential
from providers.requests import completion_request
from providers.services import CredentialInvalid, credential_set
from tests.conftest import bearer
from tests.fakes.base import Reply
from tests.providers.conftest import OPENAI_KEY

pytestmark = pytest.mark.django_db

PRIVATE_URLS = [
    "http://127.0.0.1:8080/v1",             # loopback
    "http://127.8.9.10/v1",                 # the rest of 127/8
    "http://10.1.2.3/v1",                   # RFC 1918
    "http://172.16.0.1/v1",
    "http://172.31.255.254/v1",
    "http://192.168.1.1/v1",
    "http://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
    "http://100.64.0.1/v1",                 # carrier-grade NAT
    "http://0.0.0.0:8000/v1",               # "this host"
    "http://198.18.0.1/v1",                 # benchmarking range
    "http://224.0.0.1/v1",                  # multicast
    "http://[::1]:8000/v1",                 # IPv6 loopback
    "http://[::]/v1",
    "http://[::ffff:127.0.0.1]/v1",         # IPv4-mapped
    "http://[::ffff:7f00:1]/v1",            # the same, in hex
    "http://[::ffff:169.254.169.254]/v1",
    "http://[::127.0.0.1]/v1",              # IPv4-compatible (deprecated)
    "http://[64:ff9b::a9fe:a9fe]/v1",       # NAT64 of 169.254.169.254
    "http://[2002:7f00:1::]/v1",            # 6to4 of 127.0.0.1
    "http://[fe80::1]/v1",                  # IPv6 link-local
    "http://[fc00::1]/v1",                  # unique local
    "http://[fd12:3456::1]/v1",
    "http://2130706433/v1",                 # decimal 127.0.0.1
    "http://0177.0.0.1/v1",                 # octal
    "http://0x7f.0.0.1/v1",                 # hex
    "http://127.1/v1",                      # short form
    "http://017700000001/v1",               # octal, whole
    "http://localhost:8000/v1",             # a name resolving to loopback
    "http://LOCALHOST./v1",                 # its other spelling
]


@pytest.fixture
def deny(settings):  # type: ignore[no-untyped-def]
    settings.BENCHHUB_PRIVATE_ENDPOINTS = "deny"
    return settings


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_endpoints_are_refused_when_the_credential_is_saved(gw_org, deny, url) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CredentialInvalid, match="base_url refused"):
        credential_set(org=gw_org, provider="local", api_key=None, base_url=url)
    assert not ProviderCredential.objects.filter(org=gw_org, provider="local").exists()


def test_public_endpoints_are_accepted(gw_org, deny) -> None:  # type: ignore[no-untyped-def]
    for url in ("http://8.8.8.8/v1", "https://[2001:4860:4860::8888]/v1", "https://unresolvable.invalid/v1"):
        credential_set(org=gw_org, provider="local", api_key=None, base_url=url)


def test_the_api_answers_a_validation_error_naming_the_refusal(api_client, org_world, deny) -> None:  # type: ignore[no-untyped-def]
    client = bearer(api_client, org_world.a.keys["admin"])
    response = client.post("/api/v1/credentials/", {"provider": "local", "base_url": "http://169.254.169.254/v1"},
                           format="json")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "validation_error"
    assert "private" in response.json()["error"]["message"]


def test_an_allow_list_admits_exactly_its_host_and_port(gw_org, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_PRIVATE_ENDPOINTS = "127.0.0.1:8081, gpu-box.internal:9000"
    credential_set(org=gw_org, provider="local", api_key=None, base_url="http://127.0.0.1:8081/v1")
    with pytest.raises(CredentialInvalid):
        credential_set(org=gw_org, provider="local", api_key=None, base_url="http://127.0.0.1:8082/v1")


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_database_and_redis_are_refused_even_when_private_endpoints_are_allowed(gw_org, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_PRIVATE_ENDPOINTS = "allow"
    settings.REDIS_URL = "redis://127.0.0.1:6390/3"
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.postgresql",
                                      "HOST": "localhost", "PORT": "5439"}}
    for url in ("http://127.0.0.1:6390/", "http://localhost:6390/", "http://[::ffff:127.0.0.1]:6390/",
                "http://2130706433:5439/", "http://127.0.0.1:5439/", "http://[::1]:5439/"):
        with pytest.raises(CredentialInvalid, match="platform's own services"):
            credential_set(org=gw_org, provider="local", api_key=None, base_url=url)
    credential_set(org=gw_org, provider="local", api_key=None, base_url="http://127.0.0.1:6391/v1")


def _call(org) -> ProviderError:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderError) as caught:
        complete(org_id=org.pk, provider="openai", request=completion_request(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], config={"max_retries": 0}))
    return caught.value


def test_dns_rebinding_is_refused_at_connection(gw_org, fake_openai, deny, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The name answered a public address when the credential was saved and loopback when called:
    the connector checks the address it actually dials."""
    from providers import egress

    monkeypatch.setattr(egress, "_resolve", lambda host, port: ["93.184.216.34"])  # the first DNS answer
    credential_set(org=gw_org, provider="openai", api_key=OPENAI_KEY,
                   base_url=fake_openai.url.replace("127.0.0.1", "localhost") + "/v1")
    monkeypatch.undo()
    error = _call(gw_org)
    assert error.type == ErrorType.POLICY_DENIED and "endpoint refused" in error.message
    assert fake_openai.seen == []  # not one byte reached the private listener


def test_a_stored_private_endpoint_is_refused_at_connection(gw_org, fake_openai, settings) -> None:  # type: ignore[no-untyped-def]
    """Saved while private endpoints were allowed, called after the platform denied them."""
    credential_set(org=gw_org, provider="openai", api_key=OPENAI_KEY, base_url=fake_openai.url + "/v1")
    settings.BENCHHUB_PRIVATE_ENDPOINTS = "deny"
    assert _call(gw_org).type == ErrorType.POLICY_DENIED
    assert fake_openai.seen == []


def test_a_redirect_to_loopback_is_refused(gw_org, fake_openai, fake_anthropic, settings) -> None:  # type: ignore[no-untyped-def]
    """The allowed endpoint answers 307 to another loopback port: the SDK follows, the guard refuses."""
    port = fake_openai.url.rsplit(":", 1)[1]
    settings.BENCHHUB_PRIVATE_ENDPOINTS = f"127.0.0.1:{port}"
    credential_set(org=gw_org, provider="openai", api_key=OPENAI_KEY, base_url=fake_openai.url + "/v1")
    target = fake_anthropic.url + "/v1/messages"
    fake_openai.script(Reply.raw(307, "", headers={"Location": target}))
    error = _call(gw_org)
    assert error.type == ErrorType.POLICY_DENIED, error.message
    assert len(fake_openai.seen) == 1 and fake_anthropic.seen == []


@pytest.mark.parametrize("name", ["Host", "host", "Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Trailer",
                                  "Upgrade", "Proxy-Authorization", "Proxy-Connection", "Content-Length"])
def test_hop_by_hop_and_host_headers_are_refused(gw_org, name) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CredentialInvalid, match="config.headers"):
        credential_set(org=gw_org, provider="openai", api_key=OPENAI_KEY, config={"headers": {name: "x"}})


def test_header_values_cannot_inject_lines(gw_org) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CredentialInvalid, match="one line"):
        credential_set(org=gw_org, provider="openai", api_key=OPENAI_KEY,
                       config={"headers": {"X-Team": "a\r\nHost: 169.254.169.254"}})


HEADER_SECRET = "gw-token-0123456789-SECRET"


def test_header_values_are_stored_encrypted_shown_masked_and_still_sent(gw_org, fake_openai, api_client, org_world,
                                                                        client) -> None:  # type: ignore[no-untyped-def]
    credential = credential_set(org=gw_org, provider="openai", api_key=OPENAI_KEY, base_url=fake_openai.url + "/v1",
                                config={"headers": {"X-Gateway-Token": HEADER_SECRET}, "rpm": 100})
    with connection.cursor() as cursor:
        cursor.execute("SELECT config, encrypted_headers FROM providers_providercredential WHERE id = %s",
                       [credential.pk])
        row = " ".join(str(v) for v in cursor.fetchone())
    assert HEADER_SECRET not in row and HEADER_SECRET[-12:] not in row
    listed = bearer(api_client, org_world.a.keys["admin"]).get(f"/api/v1/credentials/{credential.pk}/").json()
    assert listed["config"]["headers"] == {"X-Gateway-Token": "••••" + HEADER_SECRET[-4:]}
    assert listed["config"]["rpm"] == 100
    assert client.login(email="admin@org-a.test", password="pw-admin")
    page = client.get(f"/admin/providers/providercredential/{credential.pk}/change/").content.decode()
    assert HEADER_SECRET not in page and "••••" + HEADER_SECRET[-4:] in page
    complete(org_id=gw_org.pk, provider="openai", request=completion_request(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]))
    assert fake_openai.seen[-1].headers["X-Gateway-Token"] == HEADER_SECRET


def test_admin_edit_without_headers_keeps_the_stored_ones(gw_org, fake_openai, client) -> None:  # type: ignore[no-untyped-def]
    credential = credential_set(org=gw_org, provider="openai", api_key=OPENAI_KEY, base_url=fake_openai.url + "/v1",
                                config={"headers": {"X-Gateway-Token": HEADER_SECRET}})
    assert client.login(email="admin@org-a.test", password="pw-admin")
    response = client.post(f"/admin/providers/providercredential/{credential.pk}/change/", {
        "org": gw_org.pk, "provider": "openai", "name": "renamed", "api_key": "",
        "base_url": fake_openai.url + "/v1", "api_version": "", "config": "{}",
    })
    assert response.status_code == 302
    complete(org_id=gw_org.pk, provider="openai", request=completion_request(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]))
    assert fake_openai.seen[-1].headers["X-Gateway-Token"] == HEADER_SECRET


def test_last4_is_kept_only_for_keys_of_12_characters_or_more(gw_org) -> None:  # type: ignore[no-untyped-def]
    assert credential_set(org=gw_org, provider="openai", api_key="sk-short9").api_key_last4 == ""
    assert credential_set(org=gw_org, provider="openai", api_key="sk-long-enough-1234").api_key_last4 == "1234"


INTERNAL_PAGE = "<html><body>root:x:0:0:root:/root:/bin/bash internal-admin-console</body></html>"


def test_a_raw_non_json_error_body_never_comes_back(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    credential_set(org=gw_org, provider="openai", api_key=OPENAI_KEY, base_url=fake_openai.url + "/v1")
    fake_openai.script(Reply.raw(400, INTERNAL_PAGE))
    error = _call(gw_org)
    assert "root:x" not in error.message and "internal-admin" not in error.message
    assert error.raw is None
    assert error.message == "openai HTTP 400: HTTP 400"


def test_a_structured_error_message_is_kept_but_cut_short(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    credential_set(org=gw_org, provider="openai", api_key=OPENAI_KEY, base_url=fake_openai.url + "/v1")
    long = "bad parameter " + "x" * 5000
    fake_openai.script(Reply.error(400, {"error": {"message": long, "type": "invalid_request_error",
                                                   "extra": "secret-field"}}))
    error = _call(gw_org)
    assert error.message.startswith("openai HTTP 400: bad parameter xxx") and len(error.message) < 260
    assert "secret-field" not in str(error.raw)
