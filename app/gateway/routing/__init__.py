"""Routing inside an account's model groups: strategies, retries, fallbacks and fleet-wide cooldowns."""
