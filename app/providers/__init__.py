"""Upstream providers: one module each, registered in `registry`; OpenAI-compatible vendors are data."""
