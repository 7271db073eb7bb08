"""Money: usage events from the hot path, prices, budgets and rate limits (admission and settlement),
budget periods, roll-ups."""
