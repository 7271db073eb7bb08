"""One account's guardrails as a Scanner: find secrets, PII and custom patterns in a text, mask or report them.

Cost model (2 KB prompt, CPython 3.11): clean text is one RE2 DFA pass over the UTF-8 bytes with the union
of every enabled pattern (~5 µs) and nothing else. Only when that gate matches, an RE2 Set pass says which
built-ins matched, those and the custom rules are run for spans, and Python validators (Luhn, mod 97,
entropy…) look at the candidates (~40 µs for a prompt with findings or with code full of long tokens).
The gates are plain regexes on purpose: RE2 falls back from DFA to NFA when its cache fills, whereas a Set
silently reports no match, so a Set is never the only thing deciding that a text is clean.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from functools import lru_cache
from itertools import accumulate
from typing import NamedTuple

import msgspec
import re2

from app.guardrails.custom import (
    MAX_PATTERNS,
    MAX_TOTAL_PROGRAM_SIZE,
    PatternRejected,
    compile_options,
    compile_pattern,
)
from app.guardrails.detectors import DETECTORS, Detector
from app.guardrails.policy import ACTIONS, AccountGuardrails, GuardSettings

_GATE_MAX_MEM = 16 << 20  # RE2 grows its DFA cache lazily up to this; clean prompts need a few hundred KB


class Finding(msgspec.Struct, frozen=True):
    guard_type: str
    name: str
    action: str
    # Character offsets into the scanned text (for a stream: into the whole streamed text).
    start: int
    end: int


class Verdict(msgspec.Struct, frozen=True):
    text: str  # the text with every `mask` finding replaced by [REDACTED:<name>]
    findings: tuple[Finding, ...]
    blocked: Finding | None  # the first `block` finding


class _Rule:
    """A detector or custom pattern as configured for one account."""

    __slots__ = ("name", "guard_type", "action", "regex", "validate", "generic", "priority")

    def __init__(self, name: str, guard_type: str, action: str, regex: re2._Regexp,
                 validate: Callable[[str], bool] | None, generic: bool, priority: int) -> None:
        self.name = name
        self.guard_type = guard_type
        self.action = action
        self.regex = regex
        self.validate = validate
        self.generic = generic
        self.priority = priority


@lru_cache(maxsize=None)
def _detector_regex(pattern: str) -> re2._Regexp:
    regex = re2.compile(pattern, compile_options())
    # Without groups the whole match is masked and RE2 needs no capture machinery.
    return regex if regex.groups else re2.compile(pattern, compile_options(captures=False))


class _Gates(NamedTuple):
    every: re2._Regexp  # the union of every rule: the one pass a clean text costs
    built_in: re2._Regexp | None  # the union of the built-ins, asked only when the Set says nothing
    built_in_set: re2.Set | None  # which built-ins match
    custom: re2._Regexp | None  # the union of the custom rules: whether any of them needs its own pass


@lru_cache(maxsize=128)
def _gates(built_in: tuple[str, ...], custom: tuple[str, ...]) -> _Gates:
    """Compiled once per distinct rule set; accounts with the same rules share them.

    The Set holds only the built-ins (fixed, DFA-friendly). Tenant patterns stay out of it: they can make
    an automaton thrash, a Set then has no NFA fallback, and a Set mixing them was measured 10-100x slower
    than the two kinds apart on hostile text.
    """
    options = compile_options(captures=False, max_mem=_GATE_MAX_MEM)

    def union(patterns: tuple[str, ...]) -> re2._Regexp:
        return re2.compile("|".join(f"(?:{pattern})" for pattern in patterns), options)
    every = union(built_in + custom)
    rule_set: re2.Set | None = None
    if built_in:
        rule_set = re2.Set.SearchSet(options)
        for pattern in built_in:
            rule_set.Add(pattern)
        rule_set.Compile()
    only_built_in = every if not custom else union(built_in) if built_in else None
    only_custom = None if not custom else every if not built_in else union(custom)
    return _Gates(every, only_built_in, rule_set, only_custom)


class Scanner:
    """The compiled guardrails of one account; build with `build_scanner`, share freely (no state)."""

    __slots__ = ("_built_in", "_custom", "_gates", "_gate", "scans_responses", "rejected")

    def __init__(self, built_in: list[_Rule], custom: list[_Rule], *, scans_responses: bool,
                 rejected: tuple[str, ...] = ()) -> None:
        self._built_in = tuple(built_in)
        self._custom = tuple(custom)
        self._gates = _gates(tuple(rule.regex.pattern for rule in built_in),
                             tuple(rule.regex.pattern for rule in custom))
        self._gate = self._gates.every
        self.scans_responses = scans_responses
        # ids of custom patterns skipped: no longer compiling, or past the account's budget
        self.rejected = rejected

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self._built_in + self._custom)

    def scan(self, text: str) -> Verdict | None:
        """None when nothing is found (the common, cheap case); else the masked text and every finding."""
        data = text.encode()
        first = _first(self._gate, data)
        if first < 0:
            return None
        findings = self._resolve(self._candidates(text, data, first))
        if not findings:
            return None
        blocked = next((finding for finding in findings if finding.action == "block"), None)
        return Verdict(mask(text, findings), tuple(findings), blocked)

    def find(self, text: str) -> list[Finding]:
        """Every finding in `text`, ordered by position (the stream masker scans windows with this)."""
        data = text.encode()
        first = _first(self._gate, data)
        if first < 0:
            return []
        return self._resolve(self._candidates(text, data, first))

    def _candidates(self, text: str, data: bytes, first: int) -> list[tuple[int, int, _Rule]]:
        """Spans of every rule's validated matches; `first` is where the gate matched (no rule matches before)."""
        ascii_only = len(data) == len(text)
        # Byte offsets are character offsets for ASCII; otherwise RE2's str API converts them.
        subject: bytes | str = data if ascii_only else text
        start_at = first if ascii_only else 0
        rules = [*self._matching_built_ins(data), *self._matching_custom(data)]
        hits: list[tuple[int, int, _Rule]] = []
        covered: _Coverage | None = None
        for rule in rules:  # by priority: specific rules before generic ones
            validate = rule.validate
            if rule.generic and covered is None:
                covered = _Coverage(hits)
            for spans in _matches(rule.regex, subject, start_at):
                start, end = spans[0]
                for group_start, group_end in spans[1:]:  # the first group that took part, if any
                    if group_start >= 0:
                        start, end = group_start, group_end
                        break
                if start == end or (covered is not None and covered.covers(start, end)):
                    continue
                if validate is not None:
                    value = subject[start:end]
                    if not validate(value.decode("ascii") if ascii_only else value):
                        continue
                hits.append((start, end, rule))
        return hits

    def _matching_built_ins(self, data: bytes) -> tuple[_Rule, ...] | list[_Rule]:
        gates = self._gates
        if gates.built_in_set is None:
            return ()
        matched = gates.built_in_set.Match(data)
        if matched:
            return [self._built_in[index] for index in sorted(matched)]
        # No answer: only a custom rule matched, or (rarely, on hostile text) the Set's DFA gave up.
        return self._built_in if _first(gates.built_in, data) >= 0 else ()

    def _matching_custom(self, data: bytes) -> tuple[_Rule, ...]:
        """Every custom rule, when their union matches at all (their own passes are then needed)."""
        if self._gates.custom is None or _first(self._gates.custom, data) < 0:
            return ()
        return self._custom

    @staticmethod
    def _resolve(hits: list[tuple[int, int, _Rule]]) -> list[Finding]:
        """Drop generic hits covered by a more specific one; the rest become findings in text order."""
        hits.sort(key=lambda hit: (hit[0], -hit[1], hit[2].priority))
        specific_end = -1
        generic_end: dict[int, int] = {}
        findings = []
        for start, end, rule in hits:
            if rule.generic:
                # Sorted by start, every hit that could cover this one came before it.
                if specific_end >= end or any(prio < rule.priority and reach >= end
                                              for prio, reach in generic_end.items()):
                    continue
                generic_end[rule.priority] = max(generic_end.get(rule.priority, -1), end)
            else:
                specific_end = max(specific_end, end)
            findings.append(Finding(rule.guard_type, rule.name, rule.action, start, end))
        return findings


# google-re2 is pinned: its pybind `RE2.Match(anchor, bytes, pos, endpos)` returns the spans of the whole
# match and of every group, (-1, -1) when absent. Called directly it costs half of what `finditer` does per
# match (no generator, no match object); str subjects go through the public API, which maps UTF-8 offsets.
_UNANCHORED = re2._Anchor.UNANCHORED


def _first(regex: re2._Regexp, data: bytes) -> int:
    """Where the leftmost match starts, or -1."""
    return regex._regexp.Match(_UNANCHORED, data, 0, len(data))[0][0]


def _matches(regex: re2._Regexp, subject: bytes | str, pos: int) -> Iterator[list[tuple[int, int]]]:
    """The spans (whole match, then each group) of successive non-overlapping matches from `pos`."""
    if isinstance(subject, str):
        groups = range(regex.groups + 1)
        for match in regex.finditer(subject, pos):
            yield [match.span(group) for group in groups]
        return
    search = regex._regexp.Match
    end = len(subject)
    while pos <= end:
        spans = search(_UNANCHORED, subject, pos, end)
        match_end = spans[0][1]
        if match_end < 0:
            return
        yield spans
        pos = match_end if match_end > pos else pos + 1


class _Coverage:
    """Spans of the specific hits, to skip validating a generic candidate one of them already covers."""

    __slots__ = ("_starts", "_reach")

    def __init__(self, hits: list[tuple[int, int, _Rule]]) -> None:
        spans = sorted((start, end) for start, end, _ in hits)
        self._starts = [start for start, _ in spans]
        self._reach = list(accumulate((end for _, end in spans), max))

    def covers(self, start: int, end: int) -> bool:
        index = bisect_right(self._starts, start) - 1
        return index >= 0 and self._reach[index] >= end


def mask(text: str, findings: list[Finding] | tuple[Finding, ...], offset: int = 0) -> str:
    """Replace the `mask` findings (ordered by start; offsets minus `offset` index `text`).

    Overlapping mask findings merge into one span labelled with the longest (then earliest) of them.
    """
    pieces: list[str] = []
    cursor = 0
    cluster_start = cluster_end = -1
    label = ""
    longest = 0
    for finding in findings:
        if finding.action != "mask":
            continue
        start, end = finding.start - offset, finding.end - offset
        if start < cluster_end:
            cluster_end = max(cluster_end, end)
            if end - start > longest:  # ties keep the earlier finding
                longest, label = end - start, finding.name
            continue
        if cluster_end >= 0:
            pieces.append(text[cursor:cluster_start])
            pieces.append(f"[REDACTED:{label}]")
            cursor = cluster_end
        cluster_start, cluster_end, label, longest = start, end, finding.name, end - start
    if cluster_end < 0:
        return text
    pieces.append(text[cursor:cluster_start])
    pieces.append(f"[REDACTED:{label}]")
    pieces.append(text[cluster_end:])
    return "".join(pieces)


def _action(settings: GuardSettings, name: str, default: str) -> str:
    chosen = settings.detectors.get(name, default)
    if chosen == "off" or chosen in ACTIONS:
        return chosen
    return default if default in ACTIONS else "mask"


def build_scanner(config: AccountGuardrails) -> Scanner | None:
    """The account's scanner, or None when no rule is enabled (then the gateway does no work at all).

    Built-ins take the guard's action unless `detectors` overrides it ("off" disables one). Custom
    patterns take their own action; `custom_patterns.detectors` may override or switch one off by name.
    """
    built_in: list[_Rule] = []
    for detector in DETECTORS:
        settings: GuardSettings = getattr(config, detector.guard_type)
        if settings.enabled:
            action = _action(settings, detector.name, settings.action)
            if action != "off":
                built_in.append(_built_in(detector, action, len(built_in)))
    custom: list[_Rule] = []
    rejected: list[str] = []
    if config.custom_patterns.enabled:
        budget = MAX_TOTAL_PROGRAM_SIZE
        for pattern in [pattern for pattern in config.patterns if pattern.enabled][:MAX_PATTERNS]:
            action = _action(config.custom_patterns, pattern.name, pattern.action)
            if action == "off":
                continue
            try:
                compiled = compile_pattern(pattern.pattern)
            except PatternRejected:
                rejected.append(pattern.id)
                continue
            budget -= compiled.size
            if budget < 0:
                rejected.append(pattern.id)
                continue
            custom.append(_Rule(pattern.name, "custom_patterns", action, compiled.regex, None, False,
                                len(built_in) + len(custom)))
    if not built_in and not custom:
        return None
    return Scanner(built_in, custom, scans_responses=config.scan_responses, rejected=tuple(rejected))


def _built_in(detector: Detector, action: str, priority: int) -> _Rule:
    return _Rule(detector.name, detector.guard_type, action, _detector_regex(detector.pattern),
                 detector.validate, detector.generic, priority)
