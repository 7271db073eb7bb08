"""Cross-cutting pieces every context uses: errors, the shared HTTP client, job enqueueing, logging."""
