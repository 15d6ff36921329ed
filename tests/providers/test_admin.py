"""Django admin for credentials, policies and price overrides: org-scoped, validated, via services."""

from __future__ import annotations

import re

import pytest

from providers.models import PriceOverride, ProviderCredential, ProviderPolicy
from providers.services import credential_set, policy_set, price_override_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_a(client, org_world):  # type: ignore[no-untyped-def]
    assert client.login(email="admin@org-a.test", password="pw-admin")
    return client


@pytest.fixture
def both_orgs_configured(org_world):  # type: ignore[no-untyped-def]
    for fixture in (org_world.a, org_world.b):
        credential_set(org=fixture.org, provider="openai", api_key=f"sk-{fixture.org.slug}-key-{fixture.org.pk:04d}",
                       name=f"{fixture.org.slug}-cred")
        policy_set(org=fixture.org, rules=[{"provider": "openai", "models": [f"{fixture.org.slug}-*"]}])
        price_override_set(org=fixture.org, provider="openai", model=f"{fixture.org.slug}-model",
                           input_per_mtok=1, output_per_mtok=2)
    return org_world


def test_org_admin_sees_only_own_org_rows(admin_a, both_orgs_configured) -> None:  # type: ignore[no-untyped-def]
    for url in ("/admin/providers/providercredential/", "/admin/providers/providerpolicy/",
                "/admin/providers/priceoverride/"):
        html = admin_a.get(url).content.decode()
        assert "org-a" in html, url
        assert "org-b" not in html, url
    other = ProviderCredential.objects.get(org=both_orgs_configured.b.org)
    assert admin_a.get(f"/admin/providers/providercredential/{other.pk}/change/").status_code in (302, 404)


def test_org_dropdown_offers_only_administered_orgs(admin_a, org_world) -> None:  # type: ignore[no-untyped-def]
    html = admin_a.get("/admin/providers/providercredential/add/").content.decode()
    select = re.search(r'<select name="org".*?</select>', html, re.S).group(0)
    assert f'value="{org_world.a.org.pk}"' in select and f'value="{org_world.b.org.pk}"' not in select


def test_admin_adds_a_credential_through_the_service(admin_a, org_world) -> None:  # type: ignore[no-untyped-def]
    response = admin_a.post("/admin/providers/providercredential/add/", {
        "org": org_world.a.org.pk, "provider": "azure_openai", "name": "azure", "api_key": "az-secret-abcd",
        "base_url": "https://x.openai.azure.com", "api_version": "", "config": "{}",
    })
    assert response.status_code == 200 and "needs an api_version" in response.content.decode()
    response = admin_a.post("/admin/providers/providercredential/add/", {
        "org": org_world.a.org.pk, "provider": "azure_openai", "name": "azure", "api_key": "az-secret-abcd",
        "base_url": "https://x.openai.azure.com", "api_version": "2024-10-21",
        "config": '{"deployments": {"gpt-4o": "prod"}}',
    })
    assert response.status_code == 302
    credential = ProviderCredential.objects.get(org=org_world.a.org, provider="azure_openai")
    assert credential.api_key_last4 == "abcd" and "az-secret" not in credential.encrypted_api_key


def test_policy_admin_validates_rules(admin_a, org_world) -> None:  # type: ignore[no-untyped-def]
    bad = admin_a.post("/admin/providers/providerpolicy/add/", {
        "org": org_world.a.org.pk, "rules": '[{"provider": "nope", "models": ["*"]}]'})
    assert bad.status_code == 200 and "unknown provider" in bad.content.decode()
    good = admin_a.post("/admin/providers/providerpolicy/add/", {
        "org": org_world.a.org.pk, "rules": '[{"provider": "mock", "models": ["*"]}]'})
    assert good.status_code == 302
    assert ProviderPolicy.objects.get(org=org_world.a.org).rules == [{"provider": "mock", "models": ["*"]}]


def test_price_override_admin(admin_a, org_world) -> None:  # type: ignore[no-untyped-def]
    response = admin_a.post("/admin/providers/priceoverride/add/", {
        "org": org_world.a.org.pk, "provider": "azure_openai", "model": "gpt-4o*",
        "input_per_mtok": "2.5", "output_per_mtok": "10", "cached_input_per_mtok": ""})
    assert response.status_code == 302
    assert PriceOverride.objects.filter(org=org_world.a.org, model="gpt-4o*").exists()
