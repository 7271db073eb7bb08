"""The ledger bench's answer: counts, the id-by-id comparison, the settling time, and results.json."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.ledger.client import LoadOutcome
from bench.ledger.settling import Audit, Settling

MAX_SETTLE_S = 10.0


@dataclass
class LedgerResults:
    settings: dict
    account_id: str | None = None
    idle_busy_percent: dict[str, float] = field(default_factory=dict)
    load: LoadOutcome | None = None
    settling: Settling | None = None
    audit: Audit | None = None
    core_busy_ms: dict[str, float] = field(default_factory=dict)
    process_cpu_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # phase → role → CPU ms
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def summarize(results: LedgerResults) -> dict:
    load, settling, audit = results.load, results.settling, results.audit
    if load is None or settling is None or audit is None:
        return {"valid": False, "problems": ["the run did not get as far as the ledger"]}
    ok_ids = [a.request_id for a in load.ok]
    statuses = Counter(a.status for a in load.answers)
    summary = {
        "requests_sent": load.sent,
        "answers": len(load.answers),
        "answers_2xx": len(load.ok),
        "answer_statuses": {str(status): count for status, count in sorted(statuses.items())},
        "transport_errors": len(load.transport_errors),
        "load_duration_s": round(load.duration_s, 3),
        "requests_per_s": round(len(load.answers) / load.duration_s, 1) if load.duration_s else None,
        "answers_without_request_id": sum(1 for i in ok_ids if not i),
        "duplicate_request_ids_in_answers": len(ok_ids) - len(set(ok_ids)),
        "ledger_rows": audit.rows,
        "ledger_duplicates": audit.duplicates,
        "ledger_statuses": audit.statuses,
        "answered_without_row": len(audit.missing),
        "rows_without_answer": len(audit.unexpected),
        "outbox_unprocessed": audit.outbox_unprocessed,
        "rollups": {name: str(value) for name, value in audit.rollups.items()},
        "rollup_mismatches": audit.rollup_mismatches,
        "rows_complete_s": _round(settling.rows_complete_s),
        "queue_empty_s": _round(settling.queue_empty_s),
        "settled_s": _round(settling.settled_s),
        "queue_length_at_end": settling.queue_length,
        "jobs_queued_after_rows_complete": sorted(settling.lingering_jobs),
        "core0_busy_ms": {k: round(v, 1) for k, v in results.core_busy_ms.items()},
        "process_cpu_ms": {phase: {role: round(ms, 1) for role, ms in roles.items()}
                           for phase, roles in results.process_cpu_ms.items()},
    }
    problems = []
    expected = results.settings["requests"]
    if load.sent != expected:
        problems.append(f"{load.sent} requests sent, not {expected}")
    if summary["answers_2xx"] != load.sent:
        problems.append(f"{load.sent - summary['answers_2xx']} requests without a 2xx answer "
                        f"(statuses {summary['answer_statuses']}, {summary['transport_errors']} transport errors)")
    if audit.rows != summary["answers_2xx"]:
        problems.append(f"{audit.rows} ledger rows for {summary['answers_2xx']} 2xx answers")
    for name in ("ledger_duplicates", "duplicate_request_ids_in_answers", "answered_without_row", "rows_without_answer",
                 "answers_without_request_id"):
        if summary[name]:
            problems.append(f"{name.replace('_', ' ')}: {summary[name]}")
    problems += [f"roll-up: {wrong}" for wrong in audit.rollup_mismatches]
    if settling.settled_s is None:
        problems.append(f"not settled within {results.settings['settle_timeout_s']:.0f} s "
                        f"({settling.rows} rows, {settling.queue_length} jobs queued)")
    summary["problems"] = problems
    summary["valid"] = not problems
    summary["meets_target"] = settling.settled_s is not None and settling.settled_s <= MAX_SETTLE_S
    return summary


def render(results: LedgerResults, summary: dict) -> str:
    idle = results.idle_busy_percent
    lines = ["core 0 busy when idle: " + ", ".join(f"{value:.1f} % {label}" for label, value in idle.items())]
    if "requests_sent" in summary:
        s = summary
        settled = "-" if s["settled_s"] is None else f"{s['settled_s']:.2f} s"
        lines += [
            "",
            f"requests sent            {s['requests_sent']}",
            f"2xx answers              {s['answers_2xx']}   ({s['requests_per_s']} req/s over {s['load_duration_s']:.1f} s, "
            f"statuses {s['answer_statuses']}, transport errors {s['transport_errors']})",
            f"ledger rows (account)    {s['ledger_rows']}   (by status {s['ledger_statuses']})",
            f"duplicates               {s['ledger_duplicates']}   (rows sharing a request id)",
            f"answered, no row         {s['answered_without_row']};  row, no answer {s['rows_without_answer']}",
            f"roll-ups                 {'match the ledger' if not s['rollup_mismatches'] else 'DIFFER'}   "
            f"(cost {s['rollups'].get('ledger_cost')} USD = key spend = account spend; "
            f"spend_daily requests {s['rollups'].get('daily_requests')})",
            f"last row after the load  {_seconds(s['rows_complete_s'])}",
            f"queue empty after        {_seconds(s['queue_empty_s'])}   (ZCARD alchemi:usage; "
            f"outbox batches unprocessed: {s['outbox_unprocessed']})",
            *([f"  still queued then: {', '.join(s['jobs_queued_after_rows_complete'])}"]
              if s["jobs_queued_after_rows_complete"] else []),
            f"settled after            {settled}   {'PASS' if s['meets_target'] else 'FAIL'} (target <= {MAX_SETTLE_S:.0f} s)",
            f"core 0 busy              {s['core0_busy_ms'].get('during_load', 0) / 1000:.1f} s during the load, "
            f"{s['core0_busy_ms'].get('until_settled', 0) / 1000:.1f} s from its end until settled",
        ]
        for phase, roles in s["process_cpu_ms"].items():
            lines.append(f"  CPU s by process, {phase.replace('_', ' ')}: "
                         + ", ".join(f"{role} {ms / 1000:.2f}" for role, ms in roles.items() if role != "supervisor"))
    for problem in summary.get("problems", []):
        lines.append(f"INVALID: {problem}")
    for warning in results.warnings:
        lines.append(f"warning: {warning}")
    for failure in results.failures:
        lines.append(f"FAILED: {failure}")
    return "\n".join(lines)


def write_json(path: Path, results: LedgerResults, summary: dict) -> None:
    document = {
        "settings": results.settings,
        "account_id": results.account_id,
        "idle_busy_percent": {k: round(v, 2) for k, v in results.idle_busy_percent.items()},
        "summary": summary,
        "settling_trace": results.settling.trace if results.settling else None,
        "transport_errors": results.load.transport_errors[:50] if results.load else None,
        "missing_request_ids": results.audit.missing[:50] if results.audit else None,
        "unexpected_request_ids": results.audit.unexpected[:50] if results.audit else None,
        "warnings": results.warnings,
        "failures": results.failures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"
