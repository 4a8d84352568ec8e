"""The app GitHub pipeline tests run (in-process and in worker subprocesses:
--app tests.etl_github.github_app:app)."""

from __future__ import annotations

from conveyor import Conveyor
from conveyor.etl.github.pipeline import register_github_pipeline

app = Conveyor(app_path="tests.etl_github.github_app:app")
github = register_github_pipeline(app, embedding_task=None)  # the sync alone: tests/etl_search covers the stage
QUEUES = "github_extraction,github_transform"
TOKEN_ENV = "CONVEYOR_TEST_GITHUB_TOKEN"
