"""Lets the `piccolo` CLI run from the repository root (migrations new/forwards)."""

from app.db.piccolo_conf import APP_REGISTRY, DB  # noqa: F401
