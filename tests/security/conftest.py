"""The security corpora reuse the gateway's fixtures: fake provider servers and an org allowed everything."""

from tests.providers.conftest import (  # noqa: F401 - fixtures
    _fresh_gateway_state,
    fake_anthropic,
    fake_anthropic_server,
    fake_openai,
    fake_openai_server,
    gw_org,
)
