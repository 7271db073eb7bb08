"""Guardrail configuration of one account, as frozen value objects: which guards run and what each hit does."""

from __future__ import annotations

import msgspec

ACTIONS = ("mask", "block", "log")
GUARD_TYPES = ("secret_detection", "pii", "custom_patterns")
# A per-detector override may also switch that detector off.
DETECTOR_OVERRIDES = (*ACTIONS, "off")


class GuardSettings(msgspec.Struct, frozen=True):
    enabled: bool = False
    action: str = "mask"
    # detector name → action override, or "off"
    detectors: dict[str, str] = {}


class CustomPattern(msgspec.Struct, frozen=True):
    id: str
    name: str
    pattern: str
    action: str = "mask"
    enabled: bool = True


class AccountGuardrails(msgspec.Struct, frozen=True):
    secret_detection: GuardSettings = GuardSettings()
    pii: GuardSettings = GuardSettings()
    custom_patterns: GuardSettings = GuardSettings()
    patterns: tuple[CustomPattern, ...] = ()
    scan_responses: bool = False
