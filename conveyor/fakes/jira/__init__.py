"""A fake Jira Cloud site over real HTTP, with a deterministic generated dataset."""

from conveyor.fakes.jira.app import FakeJiraConfig, RecordedRequest
from conveyor.fakes.jira.dataset import JiraDataset
from conveyor.fakes.jira.server import FakeJira

__all__ = ["FakeJira", "FakeJiraConfig", "JiraDataset", "RecordedRequest"]
