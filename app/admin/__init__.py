"""The management API (LiteLLM's paths, plus /accounts): one package per domain, controller → service."""
