"""The one piccolo app: every table of the gateway, migrations in piccolo_migrations/."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

APP_CONFIG = AppConfig(
    app_name="alchemi",
    migrations_folder_path=str(Path(__file__).resolve().parents[2] / "piccolo_migrations"),
    table_classes=table_finder(
        modules=[
            "app.db.tables.accounts",
            "app.db.tables.identity",
            "app.db.tables.keys",
            "app.db.tables.models",
            "app.db.tables.usage",
            "app.db.tables.provisioning",
            "app.db.tables.invitations",
            "app.db.tables.audit",
            "app.db.tables.guardrails",
        ],
        exclude_imported=True,
    ),
    migration_dependencies=[],
    commands=[],
)
