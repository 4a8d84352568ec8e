"""The app of the Jira + GitHub search test (tests/embeddings/test_etl_search.py): both pipelines
as `conveyor up` declares them, each step ending with the embedding stage, served by real worker
processes (--app tests.etl_search_app:app)."""

from __future__ import annotations

from conveyor import Conveyor
from conveyor.etl.github.pipeline import register_github_pipeline
from conveyor.etl.jira.pipeline import register_jira

app = Conveyor(app_path="tests.etl_search_app:app")
register_jira(app)
github = register_github_pipeline(app)
ETL_QUEUES = "extraction,transform,github_extraction,github_transform"
EMBEDDING_QUEUES = "embedding,embedding_search"
