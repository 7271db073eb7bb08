"""PostgreSQL: piccolo tables by context, the connection pool, and the piccolo app config."""
