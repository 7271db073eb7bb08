"""Tenant regexes, compiled safely: RE2 (linear time, no backtracking), capped in length and size, never eval'd.

RE2 has no backreferences or lookarounds, so no pattern can backtrack catastrophically: matching time is
linear in the text for a fixed program, and program sizes are capped here, per pattern and per account.
Worst case measured: 50 patterns built to explode RE2's DFA (`(a|b)*a(a|b){20}c`) on text made for them
cost ~5 µs per character (NFA fallback); ordinary patterns ~2 ns. `PatternRejected` carries a message fit
for a 400 answer; it never echoes the pattern (it could hold a tenant's own secret).
"""

from __future__ import annotations

from functools import lru_cache

import re2

MAX_PATTERN_LENGTH = 500
MAX_PATTERNS = 50  # per account; the scanner ignores patterns past this many
# RE2 program instructions: `\bEMP-[0-9]{6}\b` is 17, a 60-word alternation ~400, `[a-z]{2,480}` ~960.
# When tenant text makes an automaton thrash, RE2 falls back to an NFA whose cost per character grows with
# the live instructions, so the account's sum is what bounds the worst case (see the tests' hostile cases).
MAX_PROGRAM_SIZE = 1000
MAX_TOTAL_PROGRAM_SIZE = 5000
_MAX_MEM = 2 << 20  # bytes RE2 may use per pattern (program + DFA cache)

# RE2's messages are `<description>: <fragment of the pattern>`; only the description (or a hint) is kept.
_HINTS = (
    ("invalid perl operator: (?<=", "lookbehind assertions are not supported (RE2 syntax)"),
    ("invalid perl operator: (?<!", "lookbehind assertions are not supported (RE2 syntax)"),
    ("invalid perl operator: (?=", "lookahead assertions are not supported (RE2 syntax)"),
    ("invalid perl operator: (?!", "lookahead assertions are not supported (RE2 syntax)"),
    ("invalid perl operator: (?P", "backreferences are not supported (RE2 syntax)"),
    ("invalid perl operator: (?#", "inline comments are not supported (RE2 syntax)"),
    ("pattern too large", "the pattern is too complex"),
    ("bad repetition operator", "invalid repetition (nothing to repeat, or a possessive quantifier)"),
)
# Zero-width matches would mask nothing and flood the findings; these probes expose them.
_EMPTY_PROBES = (b"", b"a", b" ", b"a b", b"0", b"\n", b"a\nb", b"A-1_z.")


class PatternRejected(Exception):
    """A custom pattern that cannot be used; `message` is safe to show to the tenant."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CompiledPattern:
    """A validated tenant pattern: `source` is what RE2 compiled, `regex` matches UTF-8 bytes or str."""

    __slots__ = ("source", "regex", "size")

    def __init__(self, source: str, regex: re2._Regexp) -> None:
        self.source = source
        self.regex = regex
        self.size = regex.programsize  # RE2 instructions, counted against the account's budget

    def __repr__(self) -> str:
        return f"CompiledPattern(size={self.size})"


def compile_options(*, captures: bool = True, max_mem: int = _MAX_MEM) -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print the pattern to stderr
    options.never_capture = not captures
    options.max_mem = max_mem
    return options


def _python_to_re2(pattern: str) -> str:
    """Python's end-of-text `\\Z` is RE2's `\\z`; every other escape means the same or is refused."""
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            following = pattern[index + 1]
            out.append("\\z" if following == "Z" else "\\" + following)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _reason(error: Exception) -> str:
    detail = error.args[0] if error.args else ""
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    for needle, hint in _HINTS:
        if text.startswith(needle):
            return hint
    if text.startswith("invalid escape sequence: \\") and text[26:27].isdigit():
        return "backreferences are not supported (RE2 syntax)"
    return text.split(":", 1)[0].strip() or "invalid regular expression"


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> CompiledPattern:
    """Validate and compile one tenant pattern, or raise `PatternRejected` saying why."""
    if not isinstance(pattern, str) or not pattern:
        raise PatternRejected("the pattern is empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternRejected(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
    if "\x00" in pattern:
        raise PatternRejected("the pattern contains a NUL character")
    source = _python_to_re2(pattern)
    try:
        # The whole match is masked, so no captures: RE2 then finds spans with its DFA alone.
        regex = re2.compile(source, compile_options(captures=False))
    except re2.error as error:
        raise PatternRejected(f"invalid pattern: {_reason(error)}") from None
    if regex.programsize > MAX_PROGRAM_SIZE:
        raise PatternRejected("the pattern is too complex (RE2 program larger than "
                              f"{MAX_PROGRAM_SIZE} instructions); simplify repetitions or alternations")
    if any(match.start() == match.end() for probe in _EMPTY_PROBES for match in regex.finditer(probe)):
        raise PatternRejected("the pattern can match the empty string; it must match at least one character")
    return CompiledPattern(source, regex)


def check_patterns(patterns: list[str] | tuple[str, ...]) -> list[CompiledPattern]:
    """All of one account's patterns together: each valid, at most MAX_PATTERNS, within the size budget."""
    if len(patterns) > MAX_PATTERNS:
        raise PatternRejected(f"an account has at most {MAX_PATTERNS} custom patterns")
    compiled = [compile_pattern(pattern) for pattern in patterns]
    if sum(pattern.size for pattern in compiled) > MAX_TOTAL_PROGRAM_SIZE:
        raise PatternRejected("together the account's custom patterns are too complex (RE2 programs above "
                              f"{MAX_TOTAL_PROGRAM_SIZE} instructions); simplify or remove some")
    return compiled
