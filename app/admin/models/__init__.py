"""Model deployments of an account (/model/*)."""
