"""Session-wide real services: embedded PostgreSQL + Redis, gateway API and worker processes,
and a fake OpenAI upstream. Every provider key in the suite is the canary below; when the
session ends, no log line of any process may contain it or the master key."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from app.embedded import create_app_role, start_missing
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.api import AdminClient
from tests.support.processes import Cluster, Process, base_env

MASTER_KEY = "sk-master-" + uuid.uuid4().hex
CANARY_PROVIDER_KEY = "sk-canary-provider-" + uuid.uuid4().hex
_LOG_DIRS: list[Path] = []
# More (name, secret) pairs that tests add (console passwords, OIDC client secrets): checked the same way.
EXTRA_CANARIES: list[tuple[str, str]] = []


@pytest.fixture(scope="session")
def services():
    # Not under pytest's own temp root: pytest keeps that 0700, and the embedded PostgreSQL runs as
    # its own system user, which must reach its data folder.
    data_dir = Path(tempfile.mkdtemp(prefix="alchemi-test-"))
    embedded = start_missing(data_dir, os.environ.get("TEST_DATABASE_URL"), os.environ.get("TEST_REDIS_URL"))
    if embedded.app_database_url is None:  # like `alchemi up`: the API and workers connect as the app role
        embedded.app_database_url = create_app_role(embedded.database_url, uuid.uuid4().hex)
    yield embedded
    embedded.stop()
    # pgserver's own exit hook logs after pytest has closed its streams: nothing of use is lost.
    logging.getLogger("pgserver").disabled = True
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster(services, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("logs")
    _LOG_DIRS.append(log_dir)
    env = base_env(services.database_url, services.redis_url, tmp_path_factory.mktemp("gateway"), MASTER_KEY,
                   app_database_url=services.app_database_url)
    cluster = Cluster(env, log_dir)
    cluster.migrate()
    cluster.start_worker()
    cluster.start_api()
    yield cluster
    cluster.stop_all()


@pytest.fixture(scope="session")
def api(cluster) -> Process:
    return next(p for p in cluster.processes if p.name == "api")


@pytest.fixture(scope="session")
def admin(api) -> AdminClient:
    return AdminClient(api.url, MASTER_KEY)


@pytest.fixture(scope="session")
def fake():
    with FakeOpenAI(api_key=CANARY_PROVIDER_KEY, name="upstream-a") as upstream:
        yield upstream


@pytest.fixture(scope="session")
def fake_b():
    with FakeOpenAI(api_key=CANARY_PROVIDER_KEY, name="upstream-b") as upstream:
        yield upstream


@pytest.fixture
async def db(services):
    pool = await asyncpg.create_pool(services.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@dataclass
class Tenant:
    account_id: str
    key: str
    key_id: str
    model: str
    model_id: str


def make_tenant(admin: AdminClient, upstream: FakeOpenAI, model: str = "gpt-4o-mini", **key_fields) -> Tenant:
    account_id = admin.create_account(f"acct-{uuid.uuid4().hex[:8]}")
    deployment = admin.add_model(account_id, model, upstream.base_url, api_key=CANARY_PROVIDER_KEY,
                                 input_cost_per_token=0.000001, output_cost_per_token=0.000002)
    key = admin.generate_key(account_id, **key_fields)
    return Tenant(account_id, key["key"], key["token"], model, deployment["model_id"])


@pytest.fixture
def tenant(admin, fake) -> Tenant:
    return make_tenant(admin, fake)


def pytest_sessionfinish(session, exitstatus):
    """The secret canary: the whole suite's logs must not hold the provider key or the master key."""
    leaks = []
    for log_dir in _LOG_DIRS:
        for path in log_dir.glob("*.log"):
            text = path.read_text(errors="replace")
            for name, secret in (("provider key", CANARY_PROVIDER_KEY), ("master key", MASTER_KEY), *EXTRA_CANARIES):
                if secret in text:
                    leaks.append(f"{path.name}: {name}")
    if leaks:
        print("\nSECRET CANARY: secrets found in logs: " + ", ".join(leaks))
        session.exitstatus = 1
