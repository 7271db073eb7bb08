"""Alchemi Studio Console: a multi-tenant, OpenAI-compatible AI gateway."""

import os

# piccolo finds its engine through this module path, wherever the process was started from.
os.environ.setdefault("PICCOLO_CONF", "app.db.piccolo_conf")
