"""Named SQL statements: one `.sql` file per statement in each engine's `queries/` folder.

Both engines name a statement the same way (`claim_jobs.sql` on PostgreSQL and on SQLite), so a
reader finds the two dialects of one operation side by side. Each file starts with a comment
saying what the statement does. The files are read once, when an engine module is imported.
"""

from __future__ import annotations

from importlib import resources
from types import MappingProxyType
from typing import Any


class Queries:
    """`queries.claim_jobs` is the text of `claim_jobs.sql`; an unknown name fails at once."""

    def __init__(self, package: str) -> None:
        folder = resources.files(package).joinpath("queries")
        statements: dict[str, str] = {}
        for entry in folder.iterdir():
            if not entry.name.endswith(".sql"):
                continue
            text = entry.read_text(encoding="utf-8")
            if not text.startswith("--"):
                raise ValueError(f"{package}/queries/{entry.name} must start with a comment saying what it does")
            statements[entry.name.removesuffix(".sql")] = text
        self.package = package
        self.statements = MappingProxyType(statements)
        self.__dict__.update(statements)  # plain attributes: hot paths read them per call


    def __getattr__(self, name: str) -> Any:  # only reached for a name that is not a statement
        raise AttributeError(f"no statement {name}.sql in {self.package}/queries")

    def names(self) -> set[str]:
        return set(self.statements)
