"""Guardrails: secret, PII and custom-pattern detection on prompts and responses (mask, block or log)."""
