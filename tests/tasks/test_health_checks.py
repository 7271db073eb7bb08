"""Opt-in background health checks: a real tiny call per deployment, shown to the account's admins."""

from __future__ import annotations

import time
import uuid

from tests.conftest import CANARY_PROVIDER_KEY


def test_checks_run_in_the_background_and_show_at_health(cluster, admin, fake):
    account = admin.create_account(f"health-{uuid.uuid4().hex[:6]}")
    other = admin.create_account(f"health-other-{uuid.uuid4().hex[:6]}")
    for name, upstream in (("good", "openai/fake-model"), ("bad", "openai/error-500"), ("quiet", "openai/fake-model")):
        admin.ok("POST", "/model/new", account, json={
            "model_name": name, "litellm_params": {"model": upstream, "api_base": fake.base_url,
                                                   "api_key": CANARY_PROVIDER_KEY},
            "model_info": {"health_check": name != "quiet"}})
    cluster.start_worker(extra_env={"ALCHEMI_HEALTH_CHECK_INTERVAL": "2"})

    deadline = time.monotonic() + 30
    report = {}
    while time.monotonic() < deadline:
        report = admin.ok("GET", "/health", account)
        if report["healthy_count"] + report["unhealthy_count"] >= 2:
            break
        time.sleep(0.5)
    assert [r["model_name"] for r in report["healthy_endpoints"]] == ["good"]
    assert [(r["model_name"], r["error"]) for r in report["unhealthy_endpoints"]] == [("bad", "502 upstream_error")]
    assert admin.ok("GET", "/health", other)["healthy_count"] == 0, "another account sees nothing of these"
