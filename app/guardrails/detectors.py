"""The built-in detectors: secrets (vendor keys, private keys, JWTs, connection strings, generic high-entropy
tokens) and PII (email, phone, cards, IBAN, national ids), each an RE2 pattern plus an optional check.

Patterns are RE2 syntax (no lookarounds): they are all matched in one linear-time pass by the scanner. When a
pattern has capturing groups, the first group that took part is what gets masked (the value after
`password=`, not the keyword); otherwise the whole match. Counted repetitions stay small because they
multiply automaton states; exact lengths are checked in Python on the few candidates. A match that can
contain whitespace stays under 256 characters (a private key excepted): the stream masker relies on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.guardrails import validators as check

SECRET = "secret_detection"
PII = "pii"


@dataclass(frozen=True, slots=True)
class Detector:
    name: str
    guard_type: str
    description: str
    pattern: str
    # Gets the matched value (the masked part); False drops the candidate.
    validate: Callable[[str], bool] | None = None
    # A generic hit lying inside a more specific one (an OpenAI key is also high-entropy) is not reported.
    generic: bool = False


def _max_length(limit: int, then: Callable[[str], bool] | None = None) -> Callable[[str], bool]:
    return lambda value: len(value) <= limit and (then is None or then(value))


def _openai_key(value: str) -> bool:
    return not value.startswith("sk-ant-") and len(value) <= 300 and check.random_looking(value[3:])


# A base64 run ending with `/`, `+` or `=` has no `\b` after it: end on a non-base64 character instead.
_B64_END = r"(?:[^A-Za-z0-9+/=]|$)"
_PEM_HEAD = r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
_PEM_TAIL = r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"

DETECTORS: tuple[Detector, ...] = (
    # ---- secrets, specific first (the order breaks ties between equal overlapping hits) ----
    Detector(
        "private_key", SECRET, "PEM/OpenSSH/PGP private key block (a truncated block is masked to its end)",
        # A complete block, or, with no END line, the header and the base64 body that follows (with the
        # \n escapes of a JSON string and `Name: value` header lines: Proc-Type, DEK-Info, PGP's Version).
        # The body holds no `--`: the search for an END line stops at the next BEGIN/END line, which keeps
        # many BEGIN lines without END from costing a scan to the end of the text each.
        _PEM_HEAD + r"""(?:[^"'?!<>{}|;-]|-[^"'?!<>{}|;-])*""" + _PEM_TAIL
        + "|" + _PEM_HEAD + r"(?:\\[nr]|[\r\n]|[A-Za-z0-9+/=]|[A-Za-z-]+: [^\r\n\\]*)*",
    ),
    Detector("aws_access_key", SECRET, "AWS access key id (AKIA…, ASIA…)",
             r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    Detector(
        "aws_secret_key", SECRET, "AWS secret access key assigned to an aws_secret… / SecretAccessKey field",
        r"(?i:aws_?secret_?access_?key|aws_?secret_?key|aws_?secret|secret_?access_?key)[\"']?\s{0,4}[:=]\s{0,4}[\"']?"
        r"([A-Za-z0-9/+]{40})" + _B64_END,
    ),
    Detector("gcp_api_key", SECRET, "Google API key (AIza…)", r"\b(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)"),
    Detector("gcp_service_account", SECRET, "private_key_id of a Google service-account JSON key",
             r"\"private_key_id\"\s{0,4}:\s{0,4}\"([0-9a-f]{40})\""),
    Detector("azure_storage_key", SECRET, "Azure storage / Service Bus key (AccountKey=, SharedAccessKey=)",
             r"(?i:AccountKey|SharedAccessKey)\s{0,4}=\s{0,4}([A-Za-z0-9+/]{40,}={0,2})", _max_length(90)),
    Detector("github_token", SECRET, "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)",
             r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b", _max_length(255)),
    Detector("gitlab_token", SECRET, "GitLab token (glpat-, gldt-, glrt-, …)",
             r"\bgl(?:pat|ptt|dt|rt|soat|cbt|oas|ft|imt|agent)-[A-Za-z0-9_-]{20,}", _max_length(100)),
    Detector("slack_token", SECRET, "Slack token (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-)",
             r"\bxox[baprse]-[A-Za-z0-9-]{10,}", _max_length(255, lambda v: any(c.isdigit() for c in v))),
    Detector("slack_webhook", SECRET, "Slack incoming-webhook URL",
             r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,}"),
    Detector("stripe_key", SECRET, "Stripe secret or restricted key (sk_live_, rk_test_, …) or webhook secret",
             r"\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9+/=]{32,})", _max_length(255)),
    Detector("anthropic_key", SECRET, "Anthropic API key (sk-ant-…)", r"\bsk-ant-[A-Za-z0-9_-]{32,}",
             _max_length(300)),
    Detector("openai_key", SECRET, "OpenAI-style API key (sk-…, sk-proj-…; also gateway virtual keys)",
             r"\bsk-[A-Za-z0-9_-]{20,}", _openai_key),
    Detector("npm_token", SECRET, "npm access token (npm_…)", r"\bnpm_[A-Za-z0-9]{36}\b"),
    Detector("huggingface_token", SECRET, "Hugging Face token (hf_…)", r"\bhf_[A-Za-z0-9]{30,}\b",
             _max_length(64, check.random_looking)),
    Detector("sendgrid_key", SECRET, "SendGrid API key (SG.….…)",
             r"\b(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)"),
    Detector("pypi_token", SECRET, "PyPI upload token (pypi-AgE…)", r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),
    Detector("jwt", SECRET, "JSON Web Token (header and payload that decode to JSON)",
             r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", check.jwt_valid),
    Detector(
        "connection_string", SECRET,
        "password inside a connection string: scheme://user:password@host, ?password=, Server=…;Password=…",
        r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@?#'\"<>]+:([^\s/@?#'\"<>]+)@[A-Za-z0-9\[]"
        r"|://[^\s'\"<>]*[?&;](?i:password|passwd|pwd)=([^&\s'\"<>#;]+)"
        r"|(?i:(?:server|data source|host|hostname|uid|user id|username)\s{0,4}=[^;\n]{0,64};[^\n]{0,100}?"
        r"(?:password|pwd)\s{0,4}=\s{0,4})([^;'\"\s]+)",
        check.not_placeholder,
    ),
    Detector(
        "password_assignment", SECRET, "quoted literal assigned to a password, secret, token or api_key field",
        r"(?i:password|passwd|pwd|secret|api_?key|apikey|access_?token|auth_?token|client_?secret)[\"']?"
        r"\s{0,4}[:=]\s{0,4}[\"']([^\"'\s]{8,})[\"']",
        _max_length(200, check.assigned_secret), generic=True,
    ),
    Detector("high_entropy", SECRET, "random-looking token of 24-256 chars (not hex, UUIDs or identifiers)",
             r"[A-Za-z0-9][A-Za-z0-9+/_-]{23,}={0,2}", check.high_entropy_secret, generic=True),
    # ---- PII ----
    Detector(
        "email", PII, "email address",
        # The first branch swallows URL credentials (scheme://user:pass@host, https://token@host), which
        # start earlier and are then refused, so that `pass@host` is not read as an address.
        r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@?#]+@"
        r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
        check.email_valid,
    ),
    Detector("credit_card", PII, "payment card number (known network prefix, Luhn check)",
             r"\b[0-9](?:[ -]?[0-9]){12,18}\b", check.card_number_valid),
    Detector("iban", PII, "IBAN (country length and mod-97 check)", r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b",
             check.iban_valid),
    Detector("us_ssn", PII, "US Social Security number (123-45-6789 form, allocation rules)",
             r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b", check.ssn_valid),
    Detector("uk_nino", PII, "UK National Insurance number",
             r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b", check.nino_valid),
    Detector("ca_sin", PII, "Canadian Social Insurance Number (123-456-789 or 123 456 789, Luhn check)",
             r"\b[0-9]{3}[- ][0-9]{3}[- ][0-9]{3}\b", check.sin_valid),
    Detector("in_aadhaar", PII, "Indian Aadhaar number (1234 5678 9012, Verhoeff check)",
             r"\b[2-9][0-9]{3}[ -][0-9]{4}[ -][0-9]{4}\b", check.aadhaar_valid),
    Detector("in_pan", PII, "Indian PAN (ABCPE1234F)", r"\b[A-Z]{3}[ABCFGHJLPT][A-Z][0-9]{4}[A-Z]\b"),
    Detector(
        "phone", PII, "phone number: +international, (555) 123-4567 / 555-123-4567, or 020 7946 0958",
        r"\+[1-9][0-9 ().-]{6,20}[0-9]"
        r"|(?:\([2-9][0-9]{2}\) ?|\b[2-9][0-9]{2}[-. ])[2-9][0-9]{2}[-. ][0-9]{4}\b"
        r"|\b0[1-9][0-9]{1,3}[ -][0-9]{3,4}[ -]?[0-9]{3,4}\b",
        check.phone_valid,
    ),
)

BY_NAME: dict[str, Detector] = {detector.name: detector for detector in DETECTORS}


def detector_names(guard_type: str) -> list[str]:
    """The built-in detector names of one guard type ("secret_detection" or "pii"), in priority order."""
    return [detector.name for detector in DETECTORS if detector.guard_type == guard_type]
