from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSONB
from piccolo.columns.column_types import Text
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-27T06:33:42:571649"
VERSION = "1.38.0"
DESCRIPTION = "provider params and sealed extra credentials on model deployments"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="alchemi", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="ModelDeployment",
        tablename="model_deployments",
        column_name="provider_params",
        db_column_name="provider_params",
        column_class_name="JSONB",
        column_class=JSONB,
        params={
            "default": "{}",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ModelDeployment",
        tablename="model_deployments",
        column_name="secret_params_encrypted",
        db_column_name="secret_params_encrypted",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
