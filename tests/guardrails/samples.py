"""Realistic secrets and PII for the engine tests, made at run time (no literal credential in the repository).

Each builder takes a seeded `random.Random` and returns (text around the value, the value a detector must
mask). Checksummed values (cards, IBANs, Aadhaar, SIN) use published examples or are completed here with
the public algorithm, independently of the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import string
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"

PROSE = (
    "Please review the quarterly plan before Friday. The team agreed to migrate the billing service in March, "
    "keep the retention policy at 90 days and revisit pricing after 2.5 weeks of data. Order 48213 shipped on "
    "2024-03-15 at 10:42; ticket #771 was closed. Version 3.11.7 fixes the crash; see section 4.2.1, page 12. "
    "Our office is at 221 Baker Street, and about 12% of revenue comes from 3 regions. "
)


def chars(rnd: random.Random, alphabet: str, count: int) -> str:
    """Random characters that mix classes like a real key (retried until lower, upper and digit appear)."""
    while True:
        value = "".join(rnd.choice(alphabet) for _ in range(count))
        wants = [set(string.ascii_lowercase), set(string.ascii_uppercase), set(string.digits)]
        if all(not (group & set(alphabet)) or group & set(value) for group in wants):
            return value


def luhn_complete(body: str) -> str:
    """Append the Luhn check digit to `body`."""
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


def verhoeff_complete(body: str) -> str:
    """Append the Verhoeff check digit (dihedral group D5 tables built from their definition)."""
    def d(a: int, b: int) -> int:  # D5 multiplication: rotations 0-4, reflections 5-9
        if a < 5 and b < 5:
            return (a + b) % 5
        if a < 5:
            return 5 + (b - 5 + a) % 5
        if b < 5:
            return 5 + (a - 5 - b) % 5
        return (a - b) % 5
    perm = [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]

    def p(position: int, digit: int) -> int:
        for _ in range(position % 8):
            digit = perm[digit]
        return digit
    inverse = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]
    check = 0
    for index, char in enumerate(reversed(body)):
        check = d(check, p(index + 1, int(char)))
    return body + str(inverse[check])


def _jwt(rnd: random.Random) -> str:
    def part(value: dict | bytes) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    head = part({"alg": "HS256", "typ": "JWT"}) + "." + part({"sub": str(rnd.randrange(10**9)), "name": "Jane"})
    return head + "." + part(hmac.new(rnd.randbytes(32), head.encode(), hashlib.sha256).digest())


def pem_key(kind: str = "pkcs8") -> str:
    if kind == "openssh":
        key = ed25519.Ed25519PrivateKey.generate()
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                 serialization.NoEncryption()).decode()
    if kind == "ec":  # "-----BEGIN EC PRIVATE KEY-----"
        key = ec.generate_private_key(ec.SECP256R1())
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption()).decode()
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _service_account(rnd: random.Random) -> tuple[str, str]:
    key_id = "".join(rnd.choice("0123456789abcdef") for _ in range(40))
    document = {"type": "service_account", "project_id": "demo", "private_key_id": key_id,
                "client_email": "bot@demo.iam.gserviceaccount.com"}
    return "creds: " + json.dumps(document, indent=2), key_id


Builder = Callable[[random.Random], tuple[str, str]]


def _around(template: str, make: Callable[[random.Random], str]) -> Builder:
    def build(rnd: random.Random) -> tuple[str, str]:
        value = make(rnd)
        return template.format(value), value
    return build


# detector name → builders of (text, masked value); every built-in detector appears here.
TRUE_POSITIVES: dict[str, list[Builder]] = {
    "private_key": [
        _around("My key is:\n{}\nwhy does ssh refuse it?", lambda rnd: pem_key("pkcs8").strip()),
        _around("id_ed25519:\n{}\n", lambda rnd: pem_key("openssh").strip()),
        _around("{}", lambda rnd: pem_key("ec").strip()),
        # a service-account JSON keeps the key on one line with \n escapes
        _around('{{"private_key": "{}\\n"}}', lambda rnd: pem_key("pkcs8").strip().replace("\n", "\\n")),
    ],
    "aws_access_key": [_around("export AWS_ACCESS_KEY_ID={}", lambda rnd: "AKIA" + chars(rnd, UPPER_DIGITS, 16)),
                       _around("temporary creds ASIA? -> {} ok", lambda rnd: "ASIA" + chars(rnd, UPPER_DIGITS, 16))],
    "aws_secret_key": [
        _around("aws_secret_access_key = {}\nregion = eu-west-1", lambda rnd: chars(rnd, B64, 40)),
        _around('{{"AccessKeyId": "x", "SecretAccessKey": "{}"}}', lambda rnd: chars(rnd, B64, 40)),
    ],
    "gcp_api_key": [_around("https://maps.googleapis.com/api?key={}&q=1",
                            lambda rnd: "AIza" + chars(rnd, URLSAFE, 35))],
    "gcp_service_account": [_service_account],
    "azure_storage_key": [_around(
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={};EndpointSuffix=core.windows.net",
        lambda rnd: chars(rnd, B64, 86) + "==")],
    "github_token": [_around("git clone https://{}@github.com/acme/app", lambda rnd: "ghp_" + chars(rnd, ALNUM, 36)),
                     _around("GH_TOKEN={}", lambda rnd: "github_pat_" + chars(rnd, ALNUM + "_", 82))],
    "gitlab_token": [_around("PRIVATE-TOKEN: {}", lambda rnd: "glpat-" + chars(rnd, URLSAFE, 20))],
    "slack_token": [_around("SLACK_BOT_TOKEN={} ", lambda rnd: "xoxb-" + "-".join(
        str(rnd.randrange(10**11, 10**12)) for _ in range(2)) + "-" + chars(rnd, ALNUM, 24))],
    "slack_webhook": [_around("post to {} please", lambda rnd: "https://hooks.slack.com/services/T"
                              + chars(rnd, UPPER_DIGITS, 8) + "/B" + chars(rnd, UPPER_DIGITS, 8) + "/"
                              + chars(rnd, ALNUM, 24))],
    "stripe_key": [_around("stripe.api_key = '{}'", lambda rnd: "sk_live_" + chars(rnd, ALNUM, 24)),
                   _around("webhook secret {}", lambda rnd: "whsec_" + chars(rnd, ALNUM, 32))],
    "anthropic_key": [_around("ANTHROPIC_API_KEY={}", lambda rnd: "sk-ant-api03-" + chars(rnd, URLSAFE, 93) + "AA")],
    "openai_key": [_around("client = OpenAI(api_key={})", lambda rnd: "sk-proj-" + chars(rnd, URLSAFE, 48)),
                   _around("Bearer {}", lambda rnd: "sk-" + chars(rnd, URLSAFE, 43))],
    "npm_token": [_around("//registry.npmjs.org/:_authToken={}", lambda rnd: "npm_" + chars(rnd, ALNUM, 36))],
    "huggingface_token": [_around("HF_TOKEN={}", lambda rnd: "hf_" + chars(rnd, string.ascii_letters, 34))],
    "sendgrid_key": [_around("SENDGRID_API_KEY={}", lambda rnd: "SG." + chars(rnd, URLSAFE, 22) + "."
                             + chars(rnd, URLSAFE, 43))],
    "pypi_token": [_around("password = {}", lambda rnd: "pypi-AgEIcHlwaS5vcmc" + chars(rnd, URLSAFE, 60))],
    "jwt": [_around("Authorization: Bearer {}", _jwt)],
    "connection_string": [
        _around("DATABASE_URL=postgres://app:{}@db.internal:5432/app", lambda rnd: chars(rnd, ALNUM, 14)),
        _around("mongodb+srv://svc:{}@cluster0.mongodb.net/?retryWrites=true", lambda rnd: chars(rnd, ALNUM, 16)),
        _around("jdbc:mysql://db:3306/shop?user=app&password={}&ssl=true", lambda rnd: chars(rnd, ALNUM, 12)),
        _around("Server=tcp:acme.database.windows.net,1433;User ID=app;Password={};Encrypt=True;",
                lambda rnd: chars(rnd, ALNUM, 12) + "!"),
    ],
    "password_assignment": [_around('db_password = "{}"', lambda rnd: chars(rnd, ALNUM, 8) + "#1")],
    "high_entropy": [_around("the token is {} and expires soon", lambda rnd: chars(rnd, ALNUM, 40))],
    "email": [_around("Write to {} today.", lambda rnd: "jane." + chars(rnd, string.ascii_lowercase, 6)
                      + "@example.co.uk"),
              _around("mailto:{}", lambda rnd: "ops+alerts@acme-corp.com")],
    "credit_card": [_around("card: {} exp 12/27", lambda rnd: "4111 1111 1111 1111"),
                    _around("mc {}.", lambda rnd: "5555-5555-5555-4444"),
                    _around("amex {}", lambda rnd: "378282246310005"),
                    _around("visa {}", lambda rnd: luhn_complete("4" + "".join(rnd.choice(string.digits)
                                                                               for _ in range(14))))],
    "iban": [_around("IBAN: {}", lambda rnd: "DE89 3704 0044 0532 0130 00"),
             _around("pay to {} now", lambda rnd: "GB82WEST12345698765432"),
             _around("{}", lambda rnd: "FR14 2004 1010 0505 0001 3M02 606"),
             _around("NL: {}.", lambda rnd: "NL91ABNA0417164300")],
    "us_ssn": [_around("SSN {} on file", lambda rnd: "536-22-1234")],
    "uk_nino": [_around("NI number: {}", lambda rnd: "JK 12 34 56 C"), _around("nino={}", lambda rnd: "AB123456D")],
    "ca_sin": [_around("SIN {}", lambda rnd: "-".join(_chunks(luhn_complete("1" + "".join(
        rnd.choice(string.digits) for _ in range(7))), 3)))],
    "in_aadhaar": [_around("Aadhaar: {}", lambda rnd: " ".join(_chunks(verhoeff_complete("2" + "".join(
        rnd.choice(string.digits) for _ in range(10))), 4)))],
    "in_pan": [_around("PAN {}", lambda rnd: "ABCPE1234F")],
    "phone": [_around("call {} now", lambda rnd: "+1 (415) 555-2671"),
              _around("tel: {}", lambda rnd: "+44 20 7946 0958"),
              _around("office {}, ext 4", lambda rnd: "(212) 555-0187"),
              _around("mobile {} tonight", lambda rnd: "650.253.0000"),
              _around("ring {}", lambda rnd: "020 7946 0958")],
}


def _chunks(value: str, size: int) -> list[str]:
    return [value[index:index + size] for index in range(0, len(value), size)]


# Text that must not be flagged at all: prose, code with UUIDs and hashes, dates, ids, versions, numbers.
CLEAN_TEXTS = [
    PROSE,
    "def load_user(session, user_id: str) -> User:\n"
    "    # cache key user:550e8400-e29b-41d4-a716-446655440000\n"
    "    row = session.get(User, user_id)  # commit da39a3ee5e6b4b0d3255bfef95601890afd80709\n"
    "    return AbstractUserProfileFactoryBean.from_row(row, timeout_seconds=30, retries=3)\n",
    "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  dist/app-1.4.2.tar.gz",
    "Dates 2024-01-15, 15/01/2024, 2024-01-15T10:42:00Z; order ids 123456789, 1234567890123, "
    "ORD-2024-000123; invoice 2024-0042-7781; build 20240115.3; ports 8080-8090; IP 192.168.10.254.",
    "Totals: 1,234,567.89 EUR and 9 876 543 units; ISBN 978-3-16-148410-0; tracking 1Z999AA10123456784.",
    "import { useState } from 'react'; const getUserProfileById2 = async (id) => fetchJson(`/api/v2/users/${id}`);",
    "See https://docs.python.org/3/library/functions.html#isinstance and https://github.com/org/repo/pull/1234.",
    "pip install google-re2==1.1.20251105 msgspec==0.22.0; kubectl rollout restart deploy/api-gateway-v2",
    "git log --oneline: 4b825dc fix; 9fceb02 merge; node_modules/@babel/plugin-transform-react-jsx-development",
    "The password must be at least 12 characters; set api_key in the settings page (do not share it).",
    "config: password = os.environ['DB_PASSWORD']; api_key: \"${API_KEY}\"; secret: '<your-secret-here>'",
    "postgres://app:${DB_PASSWORD}@db.internal:5432/app and redis://localhost:6379/0",
    "Call me at extension 4471 or room 221; the meeting is 10:30-11:15; PIN length 4.",
    "uuid4: 123e4567-e89b-12d3-a456-426614174000, ULID 01ARZ3NDEKTSV4RRFFQ69G5FAV, objectid 507f1f77bcf86cd799439011",
    "Base path /usr/local/lib/python3.11/site-packages/pydantic_core/_pydantic_core.cpython-311-x86_64.so",
    "Numbers 4111 1111 1111 1112 and 1234 5678 9012 3456 are not valid cards; 000-00-0000 is not an SSN.",
]
