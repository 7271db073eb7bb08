"""Single sign-on: per-account OIDC providers and the global Zitadel, auth-code flow with PKCE."""
