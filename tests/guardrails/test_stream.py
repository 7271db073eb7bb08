"""Streamed responses: masking delta by delta equals masking the whole text, and nothing leaks early."""

from __future__ import annotations

import random

import pytest

from app.guardrails.policy import AccountGuardrails, CustomPattern, GuardSettings
from app.guardrails.scanner import Finding, Scanner, build_scanner
from app.guardrails.stream import HOLD, MAX_HOLD, StreamMasker
from tests.guardrails.samples import PROSE, TRUE_POSITIVES, pem_key

ON = GuardSettings(enabled=True)


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return build_scanner(AccountGuardrails(
        secret_detection=ON, pii=ON, custom_patterns=ON,
        patterns=(CustomPattern(id="1", name="employee_id", pattern=r"\bEMP-\d{6}\b"),
                  CustomPattern(id="2", name="codename", pattern=r"(?i)project\s+falcon", action="log"))))


def stream(scanner: Scanner, text: str, sizes: list[int]) -> tuple[list[str], list[Finding]]:
    masker = StreamMasker(scanner)
    pieces: list[str] = []
    findings: list[Finding] = []
    position = 0
    turn = 0
    while position < len(text):
        size = sizes[turn % len(sizes)]
        piece, found = masker.feed(text[position:position + size])
        pieces.append(piece)
        findings.extend(found)
        position += size
        turn += 1
    piece, found = masker.finish()
    return pieces + [piece], findings + list(found)


def document(rnd: random.Random) -> str:
    """Prose, code and unicode around secrets and PII of every built-in kind, plus the custom ones."""
    parts = []
    for _ in range(rnd.randint(2, 8)):
        start = rnd.randrange(len(PROSE))
        parts.append((PROSE * 2)[start:start + rnd.randint(0, 400)])
        name = rnd.choice(sorted(TRUE_POSITIVES))
        text, _ = rnd.choice(TRUE_POSITIVES[name])(rnd)
        parts.append(text)
        parts.append(rnd.choice(["EMP-004211", "Project Falcon", "ünïcødé 🎉", "\n\n", "", "id 550e8400-e29b"]))
    return rnd.choice([" ", "\n", " — "]).join(parts)


@pytest.mark.parametrize("seed", range(60))
def test_any_chunking_gives_the_whole_text_masking(scanner, seed):
    rnd = random.Random(seed)
    text = document(rnd)
    whole = scanner.scan(text)
    sizes = [rnd.choice([1, 2, 3, 4, 7, 16, 33, 100, 500]) for _ in range(rnd.randint(1, 6))]
    pieces, findings = stream(scanner, text, sizes)
    assert "".join(pieces) == (whole.text if whole else text)
    assert findings == list(whole.findings if whole else ())


def test_a_private_key_is_never_released_before_its_end(scanner):
    key = pem_key("pkcs8").strip()
    text = "Here is the key you asked for:\n" + key + "\nKeep it safe. " + PROSE
    body_lines = key.splitlines()[1:-1]
    masker = StreamMasker(scanner)
    emitted = ""
    for index in range(0, len(text), 5):
        emitted += masker.feed(text[index:index + 5])[0]
        assert not any(line in emitted for line in body_lines)
    emitted += masker.finish()[0]
    assert "[REDACTED:private_key]" in emitted and "Keep it safe." in emitted


def test_a_secret_split_across_deltas_is_masked(scanner):
    text, value = TRUE_POSITIVES["aws_access_key"][0](random.Random(5))
    pieces, findings = stream(scanner, PROSE + text + " " + PROSE, [1])
    joined = "".join(pieces)
    assert value not in joined and "[REDACTED:aws_access_key]" in joined
    assert [f.name for f in findings] == ["aws_access_key"]
    assert (PROSE + text)[findings[0].start:findings[0].end] == value  # offsets into the whole stream


def test_clean_text_flows_with_a_bounded_lag(scanner):
    text = PROSE * 10
    masker = StreamMasker(scanner)
    emitted = 0
    for index in range(0, len(text), 8):
        emitted += len(masker.feed(text[index:index + 8])[0])
        received = min(index + 8, len(text))
        assert received - emitted <= HOLD + 64 + 8 + 40  # hold, release step, one delta, one word
    assert emitted + len(masker.finish()[0]) == len(text)


def test_a_huge_run_without_whitespace_is_released_past_the_cap(scanner):
    blob = "x" * (MAX_HOLD * 3)
    masker = StreamMasker(scanner)
    emitted = sum(len(masker.feed(blob[index:index + 1000])[0]) for index in range(0, len(blob), 1000))
    assert emitted >= len(blob) - MAX_HOLD - 1000
    assert emitted + len(masker.finish()[0]) == len(blob)


def test_block_and_log_findings_are_reported_with_the_text_untouched(scanner):
    text = "As discussed, Project Falcon starts soon. " + PROSE
    pieces, findings = stream(scanner, text, [3])
    assert "".join(pieces) == text
    assert [(f.name, f.action) for f in findings] == [("codename", "log")]


def test_finish_alone_and_twice():
    scanner = build_scanner(AccountGuardrails(pii=ON))
    masker = StreamMasker(scanner)
    assert masker.finish() == ("", ())
    assert masker.feed("mail me: a@b.io") == ("", ())
    text, findings = masker.finish()
    assert text == "mail me: [REDACTED:email]" and findings[0].name == "email"
    assert masker.finish() == ("", ())
