"""Users of an account (/user/*): role, budget, organization and team memberships."""
