"""Guardrails on streamed responses: mask text deltas as they come, holding back only a bounded tail.

Rule: text is released up to a whitespace at least `hold` (256) characters before the end of what has
arrived, in steps of 64 or more characters, and never inside a finding. Every built-in match that can
contain whitespace is shorter than that (phone, IBAN, `password = "…"`, connection strings), so a match
crossing a cut is complete when the cut is chosen; a run without whitespace (a key, a JWT) is never split.
A private key spans lines: its header matches on its own (the truncated form), so the cut stays before
`-----BEGIN` until the END line arrives. Past `max_hold` (16 KiB) held characters the tail is released
anyway. Only then, or for a custom pattern spanning whitespace over more than `hold` characters (or
anchored with `$`), may the streamed masking differ from masking the whole text at once; otherwise the
emitted pieces join to exactly `Scanner.scan(full_text).text`.
"""

from __future__ import annotations

import msgspec

from app.guardrails.scanner import Finding, Scanner, mask

HOLD = 256
MAX_HOLD = 16384
# Release in steps of at least this many characters: each release rescans the window, each delta does not.
MIN_RELEASE = 64
# Already-emitted text kept as left context: keywords before a value (`Server=…;Password=`) and `\b`.
CONTEXT = 256


class StreamMasker:
    """Feed text deltas of one response; emit what is safe now, `finish()` flushes the rest."""

    __slots__ = ("_scanner", "_hold", "_max_hold", "_buffer", "_left", "_offset", "_retry_at")

    def __init__(self, scanner: Scanner, *, hold: int = HOLD, max_hold: int = MAX_HOLD) -> None:
        self._scanner = scanner
        self._hold = hold
        self._max_hold = max(max_hold, hold + MIN_RELEASE)
        self._buffer = ""  # arrived, not yet emitted
        self._left = ""  # the last CONTEXT emitted characters
        self._offset = 0  # position of _buffer[0] in the whole stream
        # After a release blocked by a finding that reaches the end (a key still arriving), wait until the
        # buffer has doubled: rescans then cost O(max_hold) in all, not one window per delta.
        self._retry_at = 0

    def feed(self, delta: str) -> tuple[str, tuple[Finding, ...]]:
        """The masked text that can be sent now (maybe "") and the findings inside it."""
        buffer = self._buffer = self._buffer + delta
        limit = len(buffer) - self._hold
        if limit < MIN_RELEASE or len(buffer) < self._retry_at:
            return "", ()
        cut = max(buffer.rfind(" ", 0, limit), buffer.rfind("\n", 0, limit), buffer.rfind("\t", 0, limit),
                  buffer.rfind("\r", 0, limit)) + 1
        forced = cut == 0 and len(self._buffer) > self._max_hold
        if forced:
            cut = limit
        if cut < MIN_RELEASE and not forced:
            return "", ()
        return self._release(cut, forced=forced)

    def finish(self) -> tuple[str, tuple[Finding, ...]]:
        """Everything still held, masked."""
        if not self._buffer:
            return "", ()
        return self._release(len(self._buffer), final=True)

    def _release(self, cut: int, *, forced: bool = False, final: bool = False) -> tuple[str, tuple[Finding, ...]]:
        window = self._left + self._buffer
        base = len(self._left)
        findings = self._scanner.find(window)
        if findings and not final:
            cut = self._clear_of(findings, base, cut, forced=forced or len(self._buffer) > self._max_hold)
            if cut <= 0:
                self._retry_at = min(2 * len(self._buffer), self._max_hold + 1)
                return "", ()
        end = base + cut
        inside = [finding for finding in findings if finding.end > base and finding.start < end]
        clipped = [
            finding if base <= finding.start and finding.end <= end
            else msgspec.structs.replace(finding, start=max(finding.start, base), end=min(finding.end, end))
            for finding in inside
        ]
        released = mask(self._buffer[:cut], clipped, offset=base) if clipped else self._buffer[:cut]
        shift = self._offset - base
        reported = tuple(
            msgspec.structs.replace(finding, start=finding.start + shift, end=finding.end + shift)
            for finding in inside if finding.start >= base
        )
        self._left = (self._left + self._buffer[:cut])[-CONTEXT:]
        self._buffer = self._buffer[cut:]
        self._offset += cut
        self._retry_at = 0
        return released, reported

    def _clear_of(self, findings: list[Finding], base: int, cut: int, *, forced: bool) -> int:
        """Move the cut before any finding it would split; a forced release splits instead of waiting."""
        position = base + cut
        for finding in reversed(findings):  # by start, so one pass moves the cut as far as needed
            if finding.start < position < finding.end:
                position = finding.start
        if position <= base and forced:
            return cut
        return position - base
