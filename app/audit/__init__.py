"""The audit trail: capture (record, audited_change), the query API (/audit/logs), shipping to OpenObserve."""
