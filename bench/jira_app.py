"""The app the Jira sync benchmark's workers serve: the Jira pipeline and nothing else."""

from __future__ import annotations

from conveyor import Conveyor
from conveyor.etl.jira.pipeline import register_jira

app = Conveyor(app_path="bench.jira_app:app")
register_jira(app, embedding=False)  # the sync against the bare client: no embedding stage
