"""Sentry, when SENTRY_DSN is set (API and workers): errors only, tagged with the request id and account,
and scrubbed before they leave the process — no request, headers, cookies or local variables; messages keep
their wording but not the quoted values in them (where prompts, upstream bodies and payloads show up); every
string goes through `app.lib.logs.redact` (key-shaped strings, registered secrets)."""

from __future__ import annotations

import re
from typing import Any

from app.lib.logs import log_account, redact
from app.lib.request_context import request_id
from app.tenancy.context import current_account

# A quoted value, or a quote never closed (asyncpg cuts long values: `'please summarise the...`) to the end.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|['\"].*\Z", re.S)
# A quoted identifier ('NoneType', 'get', 'choices') says what went wrong and carries no one's data.
_IDENTIFIER = re.compile(r"['\"][A-Za-z_][A-Za-z0-9_.]{0,40}['\"]")
_MAX_TEXT = 300
_REPORTED = "_alchemi_reported"
_SCALARS = (str, int, float, bool, type(None))
_component: dict[str, str] = {}


def _cut(quoted: re.Match) -> str:
    value = quoted.group(0)
    if _IDENTIFIER.fullmatch(value):
        return value
    return "'…'" if len(value) > 1 and value[-1] == value[0] else "'…"


def scrub_text(text: Any) -> str:
    """Wording kept, data dropped: quoted values (other than identifiers) become '…', then redaction."""
    text = text if isinstance(text, str) else str(text)
    text = _QUOTED.sub(_cut, text)
    return redact(text[:_MAX_TEXT])


def _redacted(value: Any) -> Any:
    """The last net: every string anywhere in the event, redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(item) for item in value]
    return value


def _context_tags() -> dict[str, str]:
    tags = dict(_component)
    ident = request_id()
    if ident:
        tags["request_id"] = ident
    account = current_account() or log_account()
    if account:
        tags["account_id"] = str(account)
    return tags


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    exc_info = (hint or {}).get("exc_info") or (None, None, None)
    if event.get("logger") and getattr(exc_info[1], _REPORTED, False):
        return None  # a worker job's failure, already sent by `report_failure` with the job's tags
    event["tags"] = {**(event.get("tags") or {}), **_context_tags()}
    event.pop("request", None)
    event.pop("user", None)
    for value in (event.get("exception") or {}).get("values") or ():
        if value.get("value"):
            value["value"] = scrub_text(value["value"])
    for part in ("exception", "threads"):
        for value in (event.get(part) or {}).get("values") or ():
            for frame in (value.get("stacktrace") or {}).get("frames") or ():
                frame.pop("vars", None)
    if event.get("logentry"):
        event["logentry"] = {"message": scrub_text(event["logentry"].get("message") or "")}
    if isinstance(event.get("message"), str):
        event["message"] = scrub_text(event["message"])
    if event.get("extra"):
        event["extra"] = {key: scrub_text(value) if isinstance(value, str) else value
                          for key, value in event["extra"].items() if isinstance(value, _SCALARS)}
    crumbs = event.get("breadcrumbs")
    if isinstance(crumbs, dict):
        crumbs["values"] = [_scrubbed_crumb(crumb) for crumb in crumbs.get("values") or ()]
    return _redacted(event)


def _scrubbed_crumb(crumb: dict[str, Any]) -> dict[str, Any]:
    kept = {key: crumb[key] for key in ("type", "category", "level", "timestamp") if key in crumb}
    if crumb.get("message"):
        kept["message"] = scrub_text(crumb["message"])
    return kept


def before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    record = (hint or {}).get("log_record")
    if record is not None and isinstance(record.msg, str):
        crumb = {**crumb, "message": record.msg}  # the template: the arguments are data
    return _scrubbed_crumb(crumb)  # `data` (URLs, log extras) is dropped


def report_failure(exc: BaseException) -> None:
    """Send a failure from where its context (job id, account) is known; the same exception logged later
    (arq's "job failed" line) is then not sent twice."""
    import sentry_sdk

    if not sentry_sdk.get_client().is_active():
        return
    sentry_sdk.capture_exception(exc)
    try:
        setattr(exc, _REPORTED, True)
    except AttributeError:
        pass


def init_sentry(dsn: str | None, *, component: str) -> None:
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.logging import ignore_logger

    sentry_sdk.init(
        dsn=dsn,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        traces_sample_rate=0.0,
        server_name=component,
        # Only the stdlib integrations (logging, excepthook, threads): the auto-enabled ones (Litestar, httpx,
        # Redis, arq...) attach requests, URLs, commands and job arguments, and cost time on the hot path.
        auto_enabling_integrations=False,
        before_send=before_send,
        before_breadcrumb=before_breadcrumb,
    )
    _component["component"] = component
    # 5xx access lines: upstream outages are answered (and counted) by the gateway, not bugs to report.
    ignore_logger("alchemi.access")
