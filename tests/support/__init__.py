"""Test support: real processes of the gateway, embedded services, and small API helpers."""
