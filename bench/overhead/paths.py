"""Where the bench finds the project and where it leaves its files."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
LOG_DIR = BENCH_DIR / "logs"
RESULTS_FILE = BENCH_DIR / "results.json"
