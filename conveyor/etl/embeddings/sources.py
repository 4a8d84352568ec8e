"""The source registry: which domain tables the embedding stage can embed, and how to read their text.

A module that loads a domain table registers it once, at import (the Jira ETL its work items, the
GitHub ETL its pull requests), and any pipeline step then sends that table's ids to the embedding
stage without the stage knowing the table:

    register_source("work_items", "JIRA", fetch_work_item_texts)

    def fetch_work_item_texts(conn, tenant, ids):          # conn: a SQLAlchemy Connection
        rows = conn.execute(select(work_items).where(work_items.c.tenant == tenant,
                                                     work_items.c.key.in_(ids)))
        return [SourceText(r.key, f"{r.summary}\n\n{r.description or ''}",
                           {"title": r.summary, "project": r.project_key, "url": r.url}) for r in rows]

`fetch_texts` returns the rows that exist among `ids` (of that tenant only); an id it does not
return was deleted, and loses its points. For the common case of text spread over columns of one
table, `column_source` builds `fetch_texts` from the table's declaration.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Connection, Table, select

from conveyor.errors import ConveyorError, PermanentError
from conveyor.etl.embeddings.bridge import SOURCE_TYPES

TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$")


@dataclass(frozen=True)
class SourceText:
    """The searchable text of one row, and what a search result shows about it."""

    external_id: str
    text: str
    payload: Mapping[str, Any] = field(default_factory=dict)  # title, url, project: shown with hits


FetchTexts = Callable[[Connection, str, Sequence[str]], Iterable[SourceText]]
AllIds = Callable[[Connection, str], Iterable[str]]


@dataclass(frozen=True)
class Source:
    table: str
    source_type: str
    fetch_texts: FetchTexts
    all_ids: AllIds | None = None  # every id of a tenant: lets `reindex` re-embed the whole table


class SourceError(ConveyorError):
    """A source registered wrongly (bad table name, unknown source type, a table registered twice)."""


class UnknownSourceError(PermanentError):
    """An embedding item names a table nobody registered: retrying will not help."""


_sources: dict[str, Source] = {}
_lock = threading.Lock()


def register_source(table: str, source_type: str, fetch_texts: FetchTexts, *,
                    all_ids: AllIds | None = None) -> Source:
    """Make `table` embeddable; registering the same table again with the same functions is a no-op
    (a module imported twice), with other functions an error (two modules claiming one table)."""
    if not isinstance(table, str) or not TABLE_NAME.match(table):
        raise SourceError(f"source table name {table!r} is not a table name",
                          action="Use letters, digits, '_' and '.' (the domain table's name).")
    if source_type not in SOURCE_TYPES:
        raise SourceError(f"source_type must be one of {', '.join(SOURCE_TYPES)}, got {source_type!r}")
    if not callable(fetch_texts) or (all_ids is not None and not callable(all_ids)):
        raise SourceError(f"fetch_texts (and all_ids) of source {table!r} must be functions")
    source = Source(table, source_type, fetch_texts, all_ids)
    with _lock:
        existing = _sources.get(table)
        if existing is not None and existing != source:
            raise SourceError(f"table {table!r} is already registered as an embedding source "
                              f"({existing.source_type}, {getattr(existing.fetch_texts, '__qualname__', '?')})",
                              action="Register each table once, in the module that loads it.")
        _sources[table] = source
    return source


def unregister_source(table: str) -> None:
    with _lock:
        _sources.pop(table, None)


def get_source(table: str) -> Source:
    with _lock:
        source = _sources.get(table)
        known = ", ".join(sorted(_sources)) or "none"
    if source is None:
        raise UnknownSourceError(f"no embedding source is registered for table {table!r} (registered: {known}); "
                                 "call register_source(table, source_type, fetch_texts) in a module the worker's "
                                 "app imports")
    return source


def registered_sources() -> list[Source]:
    with _lock:
        return sorted(_sources.values(), key=lambda s: s.table)


def column_source(table: Table, *, id_column: str, text_columns: Sequence[str],
                  payload_columns: Mapping[str, str] | None = None, tenant_column: str = "tenant",
                  ) -> tuple[FetchTexts, AllIds]:
    """fetch_texts and all_ids for a table whose text is a few of its columns (joined by blank lines;
    empty columns left out). payload_columns: payload key -> column (e.g. {"title": "summary"})."""
    payload_columns = dict(payload_columns or {})
    names = [id_column, tenant_column, *text_columns, *payload_columns.values()]
    missing = [n for n in names if n not in table.c]
    if missing:
        raise SourceError(f"table {table.name} has no column(s) {', '.join(missing)}")
    ident: Column[Any] = table.c[id_column]
    tenant_col: Column[Any] = table.c[tenant_column]
    wanted = [table.c[n] for n in dict.fromkeys([id_column, *text_columns, *payload_columns.values()])]

    def fetch_texts(conn: Connection, tenant: str, ids: Sequence[str]) -> list[SourceText]:
        found: list[SourceText] = []
        ids = list(ids)
        for start in range(0, len(ids), 500):
            query = select(*wanted).where(tenant_col == tenant, ident.in_(ids[start:start + 500]))
            for row in conn.execute(query):
                m = row._mapping
                text = "\n\n".join(str(m[c]) for c in text_columns if m[c] not in (None, ""))
                payload = {key: m[col] for key, col in payload_columns.items() if m[col] is not None}
                found.append(SourceText(str(m[id_column]), text, payload))
        return found

    def all_ids(conn: Connection, tenant: str) -> list[str]:
        return [str(v) for v in conn.execute(select(ident).where(tenant_col == tenant)).scalars()]

    return fetch_texts, all_ids
