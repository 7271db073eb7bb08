"""/copilot/guardrails: an account's guards, custom patterns and hit log over HTTP, each change audited."""

from __future__ import annotations

import uuid


def _guard(config: dict, guard_type: str) -> dict:
    return next(guard for guard in config["guards"] if guard["guard_type"] == guard_type)


def test_a_new_account_has_every_guard_off_and_sees_what_it_could_turn_on(guarded):
    config = guarded.ok("GET", "/config")
    assert config["scan_responses"] is False
    assert [guard["guard_type"] for guard in config["guards"]] == ["secret_detection", "pii", "custom_patterns"]
    assert all(not guard["enabled"] and guard["action"] == "mask" for guard in config["guards"])
    secrets, pii = _guard(config, "secret_detection"), _guard(config, "pii")
    assert {"aws_access_key", "private_key", "jwt", "connection_string", "high_entropy"} <= set(
        secrets["available_detectors"])
    assert {"email", "phone", "credit_card", "iban"} <= set(pii["available_detectors"])


def test_toggle_and_update_are_kept_and_shown(guarded):
    toggled = guarded.ok("POST", "/config/pii/toggle", json={"enabled": True})
    assert (toggled["guard_type"], toggled["enabled"], toggled["action"]) == ("pii", True, "mask")

    updated = guarded.ok("PUT", "/config/pii", json={"action": "block", "detectors": {"phone": "off", "email": "log"}})
    assert (updated["enabled"], updated["action"], updated["detectors"]) == (True, "block",
                                                                             {"phone": "off", "email": "log"})
    guarded.ok("PUT", "/config", json={"scan_responses": True})

    config = guarded.ok("GET", "/config")
    assert config["scan_responses"] is True
    assert _guard(config, "pii")["detectors"] == {"phone": "off", "email": "log"}
    assert not _guard(config, "secret_detection")["enabled"]

    off = guarded.ok("POST", "/config/pii/toggle", json={"enabled": False})
    assert (off["enabled"], off["action"], off["detectors"]) == (False, "block", {"phone": "off", "email": "log"})


def test_unknown_guard_types_detectors_and_actions_are_refused(guarded):
    for method, path, body in (("POST", "/config/antivirus/toggle", {"enabled": True}),
                               ("PUT", "/config/antivirus", {"action": "mask"})):
        response = guarded.call(method, path, json=body)
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert (error["type"], error["code"], error["param"]) == ("not_found_error", "guard_type_not_found",
                                                                  "guard_type")
        assert "secret_detection" in error["message"]

    for body, param in (({"action": "quarantine"}, "action"), ({"detectors": {"aws_access_key": "mask"}}, "detectors"),
                        ({"detectors": {"email": "shred"}}, "detectors")):
        response = guarded.call("PUT", "/config/pii", json=body)
        assert response.status_code == 400, response.text
        assert (response.json()["error"]["type"], response.json()["error"]["param"]) == ("invalid_request_error",
                                                                                          param)
    response = guarded.call("POST", "/config/pii/toggle", json={"enabled": "yes"})
    assert response.status_code == 400
    assert not _guard(guarded.ok("GET", "/config"), "pii")["enabled"], "nothing refused was stored"


def test_custom_patterns_crud(guarded):
    created = guarded.call("POST", "/patterns", json={"name": "Project codes", "pattern": r"PRJ-\d{5}",
                                                      "action": "block"})
    assert created.status_code == 201, created.text
    pattern = created.json()
    assert (pattern["name"], pattern["pattern"], pattern["action"], pattern["enabled"]) == (
        "Project codes", r"PRJ-\d{5}", "block", True)

    duplicate = guarded.call("POST", "/patterns", json={"name": "project CODES", "pattern": "x{3}"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "pattern_name_taken"

    changed = guarded.ok("PATCH", f"/patterns/{pattern['id']}", json={"action": "mask", "enabled": False})
    assert (changed["action"], changed["enabled"], changed["pattern"]) == ("mask", False, r"PRJ-\d{5}")
    assert changed["updated_at"] >= pattern["updated_at"]
    assert [p["id"] for p in guarded.ok("GET", "/patterns")] == [pattern["id"]]

    assert guarded.ok("DELETE", f"/patterns/{pattern['id']}")["id"] == pattern["id"]
    assert guarded.ok("GET", "/patterns") == []
    for method in ("PATCH", "DELETE"):
        missing = guarded.call(method, f"/patterns/{pattern['id']}", json={"enabled": True})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "pattern_not_found"
    assert guarded.call("PATCH", "/patterns/not-a-uuid", json={"enabled": True}).status_code == 400


def test_patterns_that_cannot_run_safely_are_refused_with_400(guarded):
    for hostile in (r"([a-z]+", r"(a)\1", r"(?<=secret)\w+", "x" * 5000, r"(?:)", ".*", r"(?:a{1,1000}){1,1000}"):
        response = guarded.call("POST", "/patterns", json={"name": f"bad-{uuid.uuid4().hex[:6]}", "pattern": hostile})
        assert response.status_code == 400, (hostile, response.text)
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", "pattern"), error
    good = guarded.ok("POST", "/patterns", json={"name": "ok", "pattern": r"ACME-[0-9]{6}"})
    refused = guarded.call("PATCH", f"/patterns/{good['id']}", json={"pattern": r"(a)\1"})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "pattern"
    assert guarded.ok("GET", "/patterns")[0]["pattern"] == r"ACME-[0-9]{6}"


async def test_every_change_is_an_audit_event_with_its_before_and_after(guarded, db):
    guarded.ok("POST", "/config/secret_detection/toggle", json={"enabled": True})
    guarded.ok("PUT", "/config/secret_detection", json={"action": "block"})
    guarded.ok("PUT", "/config", json={"scan_responses": True})
    pattern = guarded.ok("POST", "/patterns", json={"name": "codes", "pattern": r"PRJ-\d{5}"})
    guarded.ok("PATCH", f"/patterns/{pattern['id']}", json={"enabled": False})
    guarded.ok("DELETE", f"/patterns/{pattern['id']}")

    events = await db.fetch("SELECT action, target_type, target_id, changes, actor_type FROM audit_events "
                            "WHERE account_id = $1 AND action LIKE 'guardrail%' ORDER BY occurred_at",
                            uuid.UUID(guarded.account_id))
    assert [(e["action"], e["target_id"]) for e in events] == [
        ("guardrail.updated", "secret_detection"), ("guardrail.updated", "secret_detection"),
        ("guardrail_settings.updated", guarded.account_id), ("guardrail_pattern.created", pattern["id"]),
        ("guardrail_pattern.updated", pattern["id"]), ("guardrail_pattern.deleted", pattern["id"])]
    assert all(e["actor_type"] == "master_key" for e in events)
    assert '"enabled": true' in events[0]["changes"] and '"block"' in events[1]["changes"]


def test_the_hit_log_filters_are_checked(guarded):
    page = guarded.ok("GET", "/audit")
    assert (page["hits"], page["total"], page["page"]) == ([], 0, 1)
    for params in ({"guard_type": "antivirus"}, {"action": "shred"}, {"direction": "sideways"},
                   {"start_date": "yesterday"}, {"start_date": "2026-02-02", "end_date": "2026-01-01"}):
        response = guarded.call("GET", "/audit", params=params)
        assert response.status_code == 400, (params, response.text)

