"""The console API with sign-in configured and the real OpenID Connect provider of tests/identity, for the
sign-in events; the webhook API of tests/auth, for provisioning events."""

from tests.identity.conftest import console_api, idp, oidc_port, oidc_provider  # noqa: F401
