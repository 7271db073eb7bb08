"""piccolo's engine and app registry (the `piccolo` CLI finds it through PICCOLO_CONF)."""

import os

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

DB = PostgresEngine(config={"dsn": os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/alchemi")})

APP_REGISTRY = AppRegistry(apps=["app.db.piccolo_app"])
