"""A fake GitHub for tests and the demo: GitHub's GraphQL API (a subset of the published schema)
over a generated dataset, with GitHub's limits and switchable faults. See server.FakeGitHub."""

from conveyor.etl.github.fake.dataset import Dataset, DatasetSpec
from conveyor.etl.github.fake.faults import Fault, RequestRecord
from conveyor.etl.github.fake.resolvers import fake_schema
from conveyor.etl.github.fake.server import FakeGitHub, Token

__all__ = ["Dataset", "DatasetSpec", "FakeGitHub", "Fault", "RequestRecord", "Token", "fake_schema"]
