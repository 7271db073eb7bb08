from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt
from piccolo.columns.column_types import Integer

ID = "2026-11-27T06:58:40:288808"
VERSION = "1.38.0"
DESCRIPTION = "64-bit token and request sums in spend_daily"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="alchemi", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="SpendDaily",
        tablename="spend_daily",
        column_name="requests",
        db_column_name="requests",
        params={},
        old_params={},
        column_class=BigInt,
        old_column_class=Integer,
        schema=None,
    )

    manager.alter_column(
        table_class_name="SpendDaily",
        tablename="spend_daily",
        column_name="prompt_tokens",
        db_column_name="prompt_tokens",
        params={},
        old_params={},
        column_class=BigInt,
        old_column_class=Integer,
        schema=None,
    )

    manager.alter_column(
        table_class_name="SpendDaily",
        tablename="spend_daily",
        column_name="completion_tokens",
        db_column_name="completion_tokens",
        params={},
        old_params={},
        column_class=BigInt,
        old_column_class=Integer,
        schema=None,
    )

    return manager
