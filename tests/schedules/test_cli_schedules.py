"""`conveyor schedules` and `conveyor etl-jobs` in-process: list, add (bad input refused), pause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conveyor.cli import main


def test_schedules_cli(tmp_path: Path, capsys: Any) -> None:
    db = ["--app", "tests.tasks:app", "--database-url", f"sqlite:///{tmp_path / 'c.db'}"]
    assert main(["db", "upgrade", *db]) == 0
    assert main(["schedules", "add", "t.add", "--interval", "0", "--args", "[1, 2]", *db]) == 2
    assert "more than 0" in capsys.readouterr().err
    assert main(["schedules", "add", "t.add", "--cron", "0 2 * * *", "--timezone", "Europe/Berlin",
                 "--args", "[1, 2]", *db]) == 0
    out = capsys.readouterr().out
    schedule_id = out.split()[0]
    assert "Europe/Berlin" in out and "never fired" in out
    assert main(["schedules", "pause", schedule_id, *db]) == 0
    assert "paused" in capsys.readouterr().out
    assert main(["schedules", *db]) == 0
    assert "t.add" in capsys.readouterr().out
    assert main(["schedules", "add", "t.nope", "--interval", "5", *db]) == 2
    assert "Unknown task" in capsys.readouterr().err
    assert main(["etl-jobs", *db]) == 0
