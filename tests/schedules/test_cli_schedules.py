"""`conveyor schedules` and `conveyor etl-jobs` as the user runs them (a process each): list, add
(bad input refused with exit code 2), pause."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conftest import ROOT


def conveyor(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conveyor", *argv], capture_output=True, text=True, timeout=60,
                          cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})


def conveyors(*commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Several `conveyor` processes run side by side, as many at a time as there are cores; their
    results in the order given."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(lambda argv: conveyor(*argv), commands))


def test_schedules_cli(tmp_path: Path) -> None:
    db = ["--app", "tests.tasks:app", "--database-url", f"sqlite:///{tmp_path / 'c.db'}"]
    assert conveyor("db", "upgrade", *db).returncode == 0
    # Calls that do not depend on one another run side by side (each process spends most of its
    # time importing).
    bad, added, unknown, etl_jobs = conveyors(
        ["schedules", "add", "t.add", "--interval", "0", "--args", "[1, 2]", *db],
        ["schedules", "add", "t.add", "--cron", "0 2 * * *", "--timezone", "Europe/Berlin", "--args", "[1, 2]", *db],
        ["schedules", "add", "t.nope", "--interval", "5", *db],
        ["etl-jobs", *db])
    assert bad.returncode == 2 and "more than 0" in bad.stderr
    assert added.returncode == 0, added.stderr
    schedule_id = added.stdout.split()[0]
    assert "Europe/Berlin" in added.stdout and "never fired" in added.stdout
    paused = conveyor("schedules", "pause", schedule_id, *db)
    assert paused.returncode == 0 and "paused" in paused.stdout
    listed = conveyor("schedules", *db)
    assert listed.returncode == 0 and "t.add" in listed.stdout
    assert unknown.returncode == 2 and "Unknown task" in unknown.stderr
    assert etl_jobs.returncode == 0
