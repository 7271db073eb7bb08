"""piccolo's engine and app registry (the `piccolo` CLI finds it through PICCOLO_CONF).

The engine connects as DATABASE_URL (the owner, for migrations); the API starts its pool on
ALCHEMI_APP_DATABASE_URL (app/runtime.py). Every transaction carries the current account (tenancy/database.py).
"""

import os

from piccolo.conf.apps import AppRegistry

from app.tenancy.database import TenantEngine

DB = TenantEngine(config={"dsn": os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/alchemi")})

APP_REGISTRY = AppRegistry(apps=["app.db.piccolo_app"])
