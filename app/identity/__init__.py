"""Console identity: email-first login, password and SSO (OIDC / Zitadel) logins, and the session cookie they end in."""
