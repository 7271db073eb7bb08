"""Tenant patterns: compiled with RE2, refused with a clear message when unusable, harmless when hostile."""

from __future__ import annotations

import builtins
import random
import time

import pytest

from app.guardrails.custom import (
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    MAX_TOTAL_PROGRAM_SIZE,
    PatternRejected,
    check_patterns,
    compile_pattern,
)
from app.guardrails.policy import AccountGuardrails, CustomPattern, GuardSettings
from app.guardrails.scanner import build_scanner

ON = GuardSettings(enabled=True)


def custom_scanner(*patterns: str, action: str = "mask"):
    config = AccountGuardrails(custom_patterns=ON, patterns=tuple(
        CustomPattern(id=f"p{index}", name=f"rule_{index}", pattern=pattern, action=action)
        for index, pattern in enumerate(patterns)))
    return build_scanner(config)


def rejection(pattern: str) -> str:
    with pytest.raises(PatternRejected) as caught:
        compile_pattern(pattern)
    return caught.value.message


def test_a_tenant_pattern_masks_its_matches():
    scanner = custom_scanner(r"\bEMP-[0-9]{6}\b", r"(?i)project\s+(?:falcon|nebula)")
    verdict = scanner.scan("EMP-004211 works on Project  Nebula, not EMP-12345.")
    assert verdict.text == "[REDACTED:rule_0] works on [REDACTED:rule_1], not EMP-12345."
    assert [(finding.guard_type, finding.name) for finding in verdict.findings] == [
        ("custom_patterns", "rule_0"), ("custom_patterns", "rule_1")]


def test_python_end_anchor_means_end_of_text():
    scanner = custom_scanner(r"TICKET-\d+\Z")
    assert scanner.scan("TICKET-12 then more") is None
    assert scanner.scan("closing TICKET-12").text == "closing [REDACTED:rule_0]"


def test_unicode_patterns_and_offsets():
    scanner = custom_scanner(r"(?i)café\s+\w+")
    text = "Réunion au CAFÉ central — ok"
    verdict = scanner.scan(text)
    finding = verdict.findings[0]
    assert text[finding.start:finding.end] == "CAFÉ central"
    assert verdict.text == "Réunion au [REDACTED:rule_0] — ok"


@pytest.mark.parametrize("pattern,reason", [
    (r"(?<=id:)\d+", "lookbehind"),
    (r"\d+(?!px)", "lookahead"),
    (r"(\w)\1", "backreferences"),
    (r"(?P<x>a)(?P=x)", "backreferences"),
    (r"a++", "invalid repetition"),
    (r"[a-z", "invalid pattern"),
    (r"x{1001}", "invalid"),
])
def test_unsupported_syntax_is_refused_with_a_reason(pattern, reason):
    assert reason in rejection(pattern)


@pytest.mark.parametrize("pattern", ["a*", r"\b", "^", "$", "x|", "(?:)", r"\s*", "(a?)"])
def test_patterns_that_match_nothing_are_refused(pattern):
    assert "empty string" in rejection(pattern)


def test_length_and_emptiness_caps():
    assert "empty" in rejection("")
    assert str(MAX_PATTERN_LENGTH) in rejection("a" * (MAX_PATTERN_LENGTH + 1))
    compile_pattern("a" * MAX_PATTERN_LENGTH)


def test_oversized_programs_are_refused():
    assert "too complex" in rejection(r"(?i)[a-z]{2,500}x")  # ~3,500 RE2 instructions
    assert "too complex" in rejection(r"\pL{500}")  # over RE2's memory budget for one pattern
    compile_pattern(r"(?:[a-z0-9]{50}[A-Z]{50}){4}")  # ~600: fine


def test_an_account_has_a_budget_for_all_its_patterns():
    heavy = [rf"[a-z]{{2,480}}Z{index}" for index in range(8)]  # ~960 instructions each
    assert sum(compile_pattern(pattern).size for pattern in heavy[:5]) <= MAX_TOTAL_PROGRAM_SIZE
    check_patterns(heavy[:5])
    with pytest.raises(PatternRejected) as caught:
        check_patterns(heavy)
    assert "too complex" in caught.value.message
    with pytest.raises(PatternRejected):
        check_patterns(["x"] * (MAX_PATTERNS + 1))
    scanner = custom_scanner(*heavy)  # stored before the budget: the scanner keeps what fits
    assert scanner.rejected == ("p5", "p6", "p7")
    assert scanner.scan("abcZ4 abcZ5").text == "[REDACTED:rule_4] abcZ5"


def test_messages_never_echo_the_pattern():
    for pattern in (r"(?<=ACME-SECRET-42)x", "ACME-SECRET-42[", "ACME-SECRET-42(?!x)", "(ACME-SECRET-42)\\1"):
        assert "ACME-SECRET-42" not in rejection(pattern)


@pytest.mark.parametrize("pattern,hostile", [
    (r"(a+)+$", "a" * 100_000 + "!"),
    (r"(a|aa)+b", "a" * 100_000),
    (r"(.*a){20}", "a" * 100_000),
    (r"(\w+\s?)+$", "word " * 20_000 + "!"),
    (r"(x+x+)+y", "x" * 100_000),
    (r"((ab)*|(ba)*)*c", "ab" * 50_000),
])
def test_catastrophic_patterns_run_in_linear_time(pattern, hostile):
    scanner = custom_scanner(pattern)
    started = time.perf_counter()
    scanner.scan(hostile)
    scanner.scan(hostile[:50_000] + "b" + hostile[50_000:])
    # A backtracking engine needs years on these; RE2 needs milliseconds. The bound is generous for CI.
    assert time.perf_counter() - started < 5


def test_patterns_whose_automaton_explodes_cost_linear_time():
    # `(a|b)*a(a|b){20}c` needs ~2^20 DFA states on a/b text: RE2 gives up on the DFA and runs an NFA.
    scanner = custom_scanner(*[rf"(?:a|b)*a(?:a|b){{20}}c{index}" for index in range(MAX_PATTERNS)])
    hostile = "".join(random.Random(0).choice("ab") for _ in range(20_000))
    started = time.perf_counter()
    assert scanner.scan(hostile) is None
    assert scanner.scan(hostile + "a" + "b" * 20 + "c7").findings[0].name == "rule_7"
    assert time.perf_counter() - started < 10  # ~0.6 s measured; linear in the text


def test_many_matches_of_many_patterns_stay_bounded():
    scanner = custom_scanner(r"\d", r"[a-z]+@[a-z]+", r"(a|aa)+b", r"(.*a){20}")
    hostile = ("1a@b aab " * 12_000)[:100_000]
    started = time.perf_counter()
    verdict = scanner.scan(hostile)
    assert time.perf_counter() - started < 10
    assert "1" not in verdict.text  # every digit masked


def test_pattern_count_is_capped_per_account():
    scanner = custom_scanner(*[f"MARK{index:03d}X" for index in range(MAX_PATTERNS + 5)])
    assert len(scanner.rule_names) == MAX_PATTERNS
    assert scanner.scan(f"MARK{MAX_PATTERNS - 1:03d}X") is not None
    assert scanner.scan(f"MARK{MAX_PATTERNS:03d}X") is None


def test_a_stored_pattern_that_no_longer_compiles_is_skipped_and_named():
    config = AccountGuardrails(custom_patterns=ON, patterns=(
        CustomPattern(id="bad", name="bad", pattern="(?<=x)y"),
        CustomPattern(id="good", name="good", pattern="SECRETWORD")))
    scanner = build_scanner(config)
    assert scanner.rejected == ("bad",)
    assert scanner.scan("the SECRETWORD").text == "the [REDACTED:good]"


def test_patterns_are_never_evaluated(monkeypatch, tmp_path):
    marker = tmp_path / "pwned"
    payloads = [f"__import__('pathlib').Path({str(marker)!r}).touch()",
                f"exec(\"open({str(marker)!r}, 'w')\")", "{{7*7}}", "${7*7}"]

    def tripwire(*args, **kwargs):
        raise AssertionError("eval/exec called")
    monkeypatch.setattr(builtins, "eval", tripwire)
    monkeypatch.setattr(builtins, "exec", tripwire)
    for payload in payloads:
        try:
            compiled = compile_pattern(payload)
        except PatternRejected:
            continue
        scanner = custom_scanner(payload)
        scanner.scan("text with 49 and " + payload)
        assert compiled.regex.pattern == payload  # a regex, literally
    assert not marker.exists()
