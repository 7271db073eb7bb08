"""Sentry, when SENTRY_DSN is set: errors only, no request bodies, no personal data."""

from __future__ import annotations


def init_sentry(dsn: str | None, *, component: str) -> None:
    if not dsn:
        return
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        traces_sample_rate=0.0,
        server_name=component,
    )
