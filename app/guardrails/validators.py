"""Checks run on regex candidates only: checksums (Luhn, IBAN mod 97, Verhoeff) and randomness heuristics.

Patterns find shapes cheaply; these decide whether a shape is really a card, an IBAN or a secret, so that
order ids, dates, identifiers, UUIDs and hashes in ordinary prompts are not flagged.
"""

from __future__ import annotations

import base64
import math
import re
from collections import Counter

_DIGITS = frozenset("0123456789")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (cards, Canadian SIN)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# Card networks by leading digits; a Luhn-valid number with no known prefix is more likely an id.
_CARD_PREFIXES = (
    ("4", 13, 19),  # Visa
    ("34", 15, 15), ("37", 15, 15),  # American Express
    ("300", 14, 19), ("301", 14, 19), ("302", 14, 19), ("303", 14, 19), ("304", 14, 19), ("305", 14, 19),
    ("36", 14, 19), ("38", 14, 19), ("39", 14, 19),  # Diners Club
    ("6011", 16, 19), ("64", 16, 19), ("65", 16, 19),  # Discover
    ("62", 16, 19),  # UnionPay
    ("35", 16, 19),  # JCB
    ("50", 12, 19), ("56", 12, 19), ("57", 12, 19), ("58", 12, 19), ("67", 12, 19),  # Maestro
)


def card_number_valid(candidate: str) -> bool:
    """13-19 digits, one kind of separator, a known network prefix and a valid Luhn checksum."""
    separators = {char for char in candidate if char not in _DIGITS}
    if len(separators) > 1:
        return False
    digits = candidate.replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    if separators and min(len(group) for group in candidate.split(separators.pop())) < 3:
        return False
    length = len(digits)
    if 51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720:  # Mastercard
        known = length == 16
    else:
        known = any(digits.startswith(prefix) and low <= length <= high for prefix, low, high in _CARD_PREFIXES)
    return known and luhn_valid(digits)


# IBAN length per country (SWIFT registry); an unknown country or a wrong length is not an IBAN.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def iban_valid(candidate: str) -> bool:
    """Country length and the ISO 13616 mod-97 check (the remainder of the rearranged number is 1)."""
    iban = candidate.replace(" ", "")
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    remainder = 0
    for char in rearranged:
        if "0" <= char <= "9":
            remainder = (remainder * 10 + ord(char) - 48) % 97
        elif "A" <= char <= "Z":
            remainder = (remainder * 100 + ord(char) - 55) % 97
        else:
            return False
    return remainder == 1


def ssn_valid(candidate: str) -> bool:
    """US SSN rules: no 000/666/9xx area, no 00 group, no 0000 serial, not the advertised sample."""
    area, group, serial = candidate.split("-")
    return (area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"
            and candidate not in ("078-05-1120", "219-09-9999", "123-45-6789"))


_NINO_BAD_PREFIXES = frozenset(("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"))


def nino_valid(candidate: str) -> bool:
    """UK National Insurance number: allowed prefix, spaces either everywhere or nowhere."""
    compact = candidate.replace(" ", "")
    spaces = len(candidate) - len(compact)
    return len(compact) == 9 and spaces in (0, 4) and compact[:2] not in _NINO_BAD_PREFIXES


def sin_valid(candidate: str) -> bool:
    """Canadian SIN: one kind of separator, not starting with 0 or 8, Luhn-valid."""
    if len({candidate[3], candidate[7]}) != 1:
        return False
    digits = candidate[:3] + candidate[4:7] + candidate[8:]
    return digits[0] not in "08" and len(set(digits)) > 1 and luhn_valid(digits)


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def aadhaar_valid(candidate: str) -> bool:
    """Indian Aadhaar: one kind of separator and the Verhoeff checksum."""
    if len({candidate[4], candidate[9]}) != 1:
        return False
    digits = candidate[:4] + candidate[5:9] + candidate[10:]
    check = 0
    for index, char in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[index % 8][ord(char) - 48]]
    return check == 0 and len(set(digits)) > 1


def email_valid(candidate: str) -> bool:
    """An address (local part up to 64, whole up to 254 chars), not the user:password@ of a URL."""
    return "://" not in candidate and len(candidate) <= 254 and candidate.index("@") <= 64


def phone_valid(candidate: str) -> bool:
    """8-15 digits (E.164), balanced parentheses, no doubled separators."""
    digits = sum(char in _DIGITS for char in candidate)
    if not 8 <= digits <= 15 or candidate.count("(") != candidate.count(")"):
        return False
    return not any(pair in candidate for pair in ("  ", "--", "..", "-.", ".-", " -", "- ", ". ", " ."))


def shannon_entropy(value: str) -> float:
    """Bits per character of the string's own character distribution."""
    length = len(value)
    counts = Counter(value).values()
    return math.log2(length) - sum(count * math.log2(count) for count in counts) / length


def _character_classes(value: str) -> int:
    lower = upper = digit = False
    for char in value:
        if "a" <= char <= "z":
            lower = True
        elif "A" <= char <= "Z":
            upper = True
        elif "0" <= char <= "9":
            digit = True
    return lower + upper + digit


def random_looking(token: str, *, min_entropy: float = 3.0) -> bool:
    """A vendor key body: at least two of lower/upper/digit and no low-entropy filler (`sk-xxxxxxxx...`)."""
    return _character_classes(token) >= 2 and shannon_entropy(token) >= min_entropy


# Tokens longer than this are data (base64 images, minified code), not credentials.
HIGH_ENTROPY_MAX = 256


# Random-looking ids that name things rather than unlock them; masking them breaks conversations
# (an Anthropic tool_result must quote its toolu_ id, an OpenAI tool message its call_ id).
_PUBLIC_ID_PREFIXES = (
    "toolu_", "srvtoolu_", "msg_", "msgbatch_", "call_", "chatcmpl-", "resp_", "rs_", "fc_", "run_", "step_",
    "asst_", "thread_", "file-", "file_", "req_", "wrkspc_", "batch_", "org-", "proj_", "vs_", "ft-", "ftjob-",
    "cus_", "pi_", "ch_", "cs_", "evt_", "in_", "sub_", "prod_", "price_", "pm_", "seti_", "acct_", "txn_",
)
_HEX_CHARS = "0123456789abcdefABCDEF-"
_DROP_DIGITS = str.maketrans("", "", "0123456789")
_DROP_ALNUM = str.maketrans("", "", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Maximal runs of one character class: their count measures how often the class changes.
_CLASS_RUNS = re.compile(r"[a-z]+|[A-Z]+|[0-9]+|[^a-zA-Z0-9]+")
# Runs that read like words: "Component", "parse", "HTTP".
_WORDLIKE = re.compile(r"[a-z]{4,}|[A-Z][a-z]{3,}|[A-Z]{4,}")


def high_entropy_secret(token: str) -> bool:
    """A generic secret: 24-256 chars mixing lower, upper and digits, not hex, and unlike an identifier.

    Measured on random base64url strings and on 20,000 synthetic identifiers (camelCase, snake_case,
    paths, with numbers): a random 24-char token passes ~93 % of the time, 40 chars ~97 %, 64 chars
    ~99 %; identifiers ~0.05 %. Identifiers fail on few class changes (`UserProfile` switches case
    twice in 11 chars, a random string every ~1.5 chars), on word-like runs or on many separators; hex
    (hashes, UUIDs), strings without a digit or without both cases, and the public ids of LLM and
    payment APIs (toolu_, call_, chatcmpl-, cus_ …) are never flagged. Cheap string checks come first.
    """
    body = token.rstrip("=")
    length = len(body)
    if not 24 <= length <= HIGH_ENTROPY_MAX or not body.strip(_HEX_CHARS):
        return False
    if body.lower() == body or body.upper() == body:
        return False
    digits = length - len(body.translate(_DROP_DIGITS))
    if digits == 0 or digits * 2 > length:
        return False
    # base64 has 2 symbols in 64: many `/`, `-`, `_` mean a path, a model name or snake_case, not a key.
    if len(body.translate(_DROP_ALNUM)) > length // 16 + 2:
        return False
    if body.startswith(_PUBLIC_ID_PREFIXES):
        return False
    if sum(len(word) for word in _WORDLIKE.findall(body)) * 2 > length:
        return False
    if len(_CLASS_RUNS.findall(body)) - 1 < 0.42 * (length - 1):
        return False
    return shannon_entropy(body) >= min(4.2, 0.72 * math.log2(length) + 0.15)


_JWT_HEADER_KEYS = ('"alg"', '"typ"', '"kid"', '"enc"')


def jwt_valid(token: str) -> bool:
    """The header segment decodes (base64url) to a JSON object naming an algorithm, type or key."""
    header = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)).decode("utf-8", "replace")
    except ValueError:
        return False
    return decoded.startswith("{") and any(key in decoded for key in _JWT_HEADER_KEYS)


_PLACEHOLDER_WORDS = ("your", "example", "xxxx", "****", "changeme", "placeholder", "redacted", "dummy",
                      "password", "secret", "<", "{{", "${", "%(", "$(", "env[", "environ")
_PLACEHOLDER_VALUES = frozenset(("pass", "passwd", "pwd", "pw", "secret", "test", "user", "admin", "root",
                                 "guest", "foo", "bar", "token", "xxx", "***", "..."))


def not_placeholder(value: str) -> bool:
    """A credential value that is not a template, an environment lookup or an obvious stand-in."""
    lowered = value.lower()
    return (len(value) >= 3 and lowered not in _PLACEHOLDER_VALUES
            and not any(word in lowered for word in _PLACEHOLDER_WORDS))


def assigned_secret(value: str) -> bool:
    """A literal assigned to a password/token field: 8+ chars, letters mixed with digits or symbols."""
    if not not_placeholder(value) or len(set(value)) < 5:
        return False
    has_alpha = any(char.isalpha() for char in value)
    has_other = any(not char.isalpha() for char in value)
    return has_alpha and has_other
