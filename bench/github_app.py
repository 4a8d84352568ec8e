"""The app the GitHub benchmark's worker processes serve (bench.github_app:app)."""

from __future__ import annotations

from conveyor import Conveyor
from conveyor.etl.github.pipeline import register_github_pipeline

app = Conveyor(app_path="bench.github_app:app")
github = register_github_pipeline(app, embedding_task=None)  # the sync alone, no embedding stage
TOKEN_ENV = "CONVEYOR_BENCH_GITHUB_TOKEN"
