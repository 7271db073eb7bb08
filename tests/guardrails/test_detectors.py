"""Built-in detectors: each finds what it claims (true positives) and leaves ordinary text alone."""

from __future__ import annotations

import random
import string

import pytest

from app.guardrails import validators
from app.guardrails.detectors import DETECTORS, detector_names
from app.guardrails.policy import AccountGuardrails, GuardSettings
from app.guardrails.scanner import Scanner, build_scanner
from tests.guardrails.samples import ALNUM, CLEAN_TEXTS, PROSE, TRUE_POSITIVES, chars, luhn_complete


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    on = GuardSettings(enabled=True)
    built = build_scanner(AccountGuardrails(secret_detection=on, pii=on))
    assert built is not None
    return built


def test_every_detector_has_true_positive_samples():
    assert set(TRUE_POSITIVES) == {detector.name for detector in DETECTORS}


def test_detector_names_lists_each_guard_type():
    secrets_names, pii_names = detector_names("secret_detection"), detector_names("pii")
    assert {"aws_access_key", "github_token", "private_key", "jwt", "connection_string", "high_entropy"} <= set(
        secrets_names)
    assert {"email", "phone", "credit_card", "iban", "us_ssn", "uk_nino"} <= set(pii_names)
    assert not set(secrets_names) & set(pii_names)
    assert detector_names("custom_patterns") == []
    assert all(detector.description for detector in DETECTORS)


@pytest.mark.parametrize("name,index", [(name, index) for name, builders in TRUE_POSITIVES.items()
                                        for index in range(len(builders))])
def test_true_positive_is_found_and_masked(scanner, name, index):
    for seed in range(3):
        text, value = TRUE_POSITIVES[name][index](random.Random(seed))
        verdict = scanner.scan(text)
        assert verdict is not None, f"{name} missed in {text!r}"
        found = [(finding.name, text[finding.start:finding.end]) for finding in verdict.findings]
        assert (name, value) in found, found
        assert value not in verdict.text
        assert f"[REDACTED:{name}]" in verdict.text


@pytest.mark.parametrize("text", CLEAN_TEXTS)
def test_ordinary_text_is_not_flagged(scanner, text):
    verdict = scanner.scan(text)
    assert verdict is None, [(finding.name, text[finding.start:finding.end]) for finding in verdict.findings]


def test_keyword_detectors_mask_the_value_not_the_keyword(scanner):
    value = chars(random.Random(7), ALNUM + "/+", 40)
    verdict = scanner.scan(f"aws_secret_access_key={value}")
    assert verdict.text == "aws_secret_access_key=[REDACTED:aws_secret_key]"
    verdict = scanner.scan("postgres://app:Xy7pQ2mZr9@db:5432/app")
    assert verdict.text == "postgres://app:[REDACTED:connection_string]@db:5432/app"


def test_url_credentials_are_not_read_as_an_email(scanner):
    verdict = scanner.scan("redis://default:Tq8mZr2Lp@cache.internal:6379 and ops@acme.com")
    assert [finding.name for finding in verdict.findings] == ["connection_string", "email"]
    verdict = scanner.scan("https://forms.acme.com/reply?to=bob@example.org&x=1")
    assert [finding.name for finding in verdict.findings] == ["email"]


def test_luhn_published_examples():
    assert validators.luhn_valid("79927398713")
    assert not validators.luhn_valid("79927398710")
    for card in ("4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "3530111333300000"):
        assert validators.card_number_valid(card), card
        broken = card[:-1] + str((int(card[-1]) + 1) % 10)
        assert not validators.card_number_valid(broken), broken


def test_card_rules_beyond_luhn():
    assert not validators.card_number_valid("0000000000000000")  # Luhn-valid, one repeated digit
    assert not validators.card_number_valid(luhn_complete("999999999999123"))  # no known network
    assert not validators.card_number_valid("4111 1111-1111 1111")  # mixed separators
    assert validators.card_number_valid("4111-1111-1111-1111")


def test_card_like_numbers_in_text(scanner):
    rnd = random.Random(3)
    order_ids = [luhn_complete("9" + "".join(rnd.choice(string.digits) for _ in range(14))) for _ in range(20)]
    assert scanner.scan("orders: " + ", ".join(order_ids)) is None  # Luhn-valid but no card network
    assert scanner.scan("4111 1111 1111 1112") is None


def test_iban_checks():
    for iban in ("DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606",
                 "NL91ABNA0417164300", "BE68539007547034", "CH9300762011623852957"):
        assert validators.iban_valid(iban), iban
    assert not validators.iban_valid("DE89370400440532013001")  # checksum
    assert not validators.iban_valid("DE8937040044053201300")  # length for DE
    assert not validators.iban_valid("XX89370400440532013000")  # no such country


def test_national_id_rules():
    assert validators.ssn_valid("536-22-1234")
    for invalid in ("000-12-3456", "666-12-3456", "912-12-3456", "536-00-1234", "536-22-0000", "078-05-1120"):
        assert not validators.ssn_valid(invalid), invalid
    assert validators.nino_valid("JK 12 34 56 C") and validators.nino_valid("AB123456D")
    assert not validators.nino_valid("GB 12 34 56 C")  # prefix never issued
    assert not validators.nino_valid("AB 1234 56 C")  # spaced unevenly


def test_high_entropy_flags_random_tokens():
    rnd = random.Random(11)
    for length, rate in ((24, 0.85), (40, 0.95), (64, 0.98)):
        tokens = [chars(rnd, ALNUM, length) for _ in range(300)]
        found = sum(validators.high_entropy_secret(token) for token in tokens) / len(tokens)
        assert found >= rate, (length, found)


@pytest.mark.parametrize("token", [
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",  # sha1
    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",  # sha256, upper case
    "550e8400-e29b-41d4-a716-446655440000",  # uuid
    "AbstractSingletonProxyFactoryBean",
    "MyComponentV2ServiceFactory2024",
    "X509CertificateValidator2048Bits",
    "test_parse_HTTP2_response_headers",
    "org/apache/commons/lang3/StringUtils",
    "aws-sdk-java-v2/services/s3/S3Client",
    "getUserById2FromDatabaseCache",
    "ConfigureAwait2ForTaskRunner32",
    "VERY_LONG_CONSTANT_NAME_FOR_RETRIES_3",
    "a" * 30 + "B1",
    "Undi95/ReMM-SLERP-L2-13B",  # a model name
    "toolu_01D7FLrfh4GYq7yT1ULFeyMV",  # ids that must survive: tool_result quotes them
    "call_Zx8Qw3Ru7TyPo2LkJh5GfDs9",
    "chatcmpl-9Zx8Qw3Ru7TyPo2LkJh5GfDs",
])
def test_high_entropy_ignores_hashes_uuids_and_identifiers(token):
    assert not validators.high_entropy_secret(token)


def test_phone_shapes_that_are_not_phones(scanner):
    for text in ("version 1.2.3.4567", "2024-01-15 10:42", "order 555-0199", "call 100-200-3000",
                 "+1 to this idea", "score 12 - 7 - 2024", "id 5551234567"):
        assert scanner.scan(text) is None, text


def test_jwt_needs_a_json_header(scanner):
    fake = "eyJ" + chars(random.Random(2), ALNUM, 20) + ".eyJ" + chars(random.Random(3), ALNUM, 20) + ".abc"
    verdict = scanner.scan(f"not a token: {fake}")
    assert verdict is None or all(finding.name != "jwt" for finding in verdict.findings)


def test_placeholders_are_not_secrets(scanner):
    for text in ('password = "changeme123"', 'api_key = "YOUR_API_KEY_HERE"', 'secret: "<secret-value>"',
                 "postgres://user:password@localhost/db", "postgres://user:pass@localhost:5432/foobar",
                 'token = "${TOKEN}"'):
        verdict = scanner.scan(text)
        assert verdict is None, (text, verdict)


def test_prose_with_every_kind_of_number_costs_nothing(scanner):
    assert scanner.scan(PROSE * 5) is None
