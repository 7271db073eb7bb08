"""Money: usage events from the hot path, prices, and (later) budgets and limits."""
