"""`alchemi`: up (everything, for `make run`), serve (one API process), worker (one arq worker), migrate,
rebuild-rollups (recompute the spend roll-ups from the usage ledger)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _data_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("ALCHEMI_DATA_DIR") or ".alchemi").resolve()


def cmd_migrate(_: argparse.Namespace) -> int:
    asyncio.run(migrate())
    print("migrations applied")
    return 0


async def migrate() -> None:
    """Apply piccolo migrations, one process at a time (an advisory lock guards concurrent deploys), then
    put row-level security on every tenant table, including tables that later migrations added."""
    import asyncpg
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from app.settings import get_settings

    conn = await asyncpg.connect(get_settings().database_url)
    try:
        # The owner reads across accounts (definer functions, rebuild-rollups): RLS must not apply to it.
        if not await conn.fetchval("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"):
            raise SystemExit("DATABASE_URL must connect as the tables' owner with BYPASSRLS (or a superuser); "
                             "the API and workers use ALCHEMI_APP_DATABASE_URL")
        await conn.execute("SELECT pg_advisory_lock(7401)")
        result = await run_forwards(app_name="all", migration_id="all", fake=False)
        if not result.success:
            raise SystemExit(f"migrations failed: {result.message}")
        await conn.execute("SELECT public.alchemi_isolate_tenant_tables()")
    finally:
        await conn.close()


def cmd_rebuild_rollups(_: argparse.Namespace) -> int:
    counts = asyncio.run(rebuild_rollups())
    print(f"usage_ledger: {counts['ledger_rows']} rows read")
    for table in ("spend_daily", "budget_usage"):
        print(f"{table}: {counts[f'{table}_rows']} rows rebuilt, {counts[f'{table}_differed']} differed from before")
    return 0


async def rebuild_rollups() -> dict[str, int]:
    import asyncpg

    from app.billing.rollups import rebuild_rollups as rebuild
    from app.settings import get_settings

    conn = await asyncpg.connect(get_settings().database_url)
    try:
        return await rebuild(conn)
    finally:
        await conn.close()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.settings import get_settings

    settings = get_settings()
    uvicorn.run(
        "app.asgi:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        workers=args.workers,
        timeout_graceful_shutdown=30,
        timeout_keep_alive=75,
        backlog=4096,
        # X-Forwarded-* are only honoured from the proxies named in FORWARDED_ALLOW_IPS.
        proxy_headers=bool(os.environ.get("FORWARDED_ALLOW_IPS")),
    )
    return 0


def cmd_worker(_: argparse.Namespace) -> int:
    from arq.worker import run_worker

    from workers.settings import UsageWorker

    run_worker(UsageWorker)  # type: ignore[arg-type]
    return 0


def _wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def cmd_up(args: argparse.Namespace) -> int:
    from app.embedded import read_or_create_secret, start_missing

    data_dir = _data_dir(args.data_dir)
    env = dict(os.environ, ALCHEMI_DATA_DIR=str(data_dir), HOST=args.host, PORT=str(args.port))
    master_key_file = data_dir / "master_key"
    if not (env.get("ALCHEMI_MASTER_KEY") or env.get("LITELLM_MASTER_KEY")):
        env["ALCHEMI_MASTER_KEY"] = read_or_create_secret(master_key_file, prefix="sk-master-")
        master_key_hint = f"in {master_key_file}"
    else:
        master_key_hint = "from ALCHEMI_MASTER_KEY"
    if not env.get("ALCHEMI_SECRET_KEY"):
        env["ALCHEMI_SECRET_KEY"] = read_or_create_secret(data_dir / "secret_key")

    services = start_missing(data_dir, env.get("DATABASE_URL"), env.get("REDIS_URL"))
    env["DATABASE_URL"], env["REDIS_URL"] = services.database_url, services.redis_url
    if services.app_database_url and not env.get("ALCHEMI_APP_DATABASE_URL"):
        env["ALCHEMI_APP_DATABASE_URL"] = services.app_database_url  # the API and worker: RLS applies to them
    children: list[subprocess.Popen] = []

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, check=True)
        api = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", args.host, "--port", str(args.port)],
                               env=env)
        children.append(api)
        children.append(subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env))
        url = f"http://{args.host}:{args.port}"
        if not _wait_ready(f"{url}/health/liveliness", api):
            print("the API did not start; see the log above", file=sys.stderr)
            return 1
        print(f"\nAlchemi Studio Console is running at {url}\nMaster key: {master_key_hint}\n"
              f"Data: {data_dir}\nPress Ctrl-C to stop.\n", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a process exited; stopping everything", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=40)
            except subprocess.TimeoutExpired:
                child.kill()
        services.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="alchemi", description="Alchemi Studio Console")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="everything: embedded PostgreSQL/Redis (unless configured), API, worker")
    up.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    up.add_argument("--port", type=int, default=int(os.environ.get("PORT", "4000")))
    up.add_argument("--data-dir", default=None)
    up.set_defaults(func=cmd_up)

    serve = commands.add_parser("serve", help="one API process (uvicorn)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser("worker", help="one arq worker for the usage queue")
    worker.set_defaults(func=cmd_worker)

    migrate_cmd = commands.add_parser("migrate", help="apply database migrations")
    migrate_cmd.set_defaults(func=cmd_migrate)

    rebuild = commands.add_parser("rebuild-rollups", help="recompute spend_daily and budget_usage from the ledger")
    rebuild.set_defaults(func=cmd_rebuild_rollups)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
