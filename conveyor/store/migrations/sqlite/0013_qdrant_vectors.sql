-- Embeddings (issue 17): the qdrant_vectors bridge table, one row per Qdrant point of a database row.
-- Same columns as PostgreSQL (see there); times are SQLAlchemy's ISO text in UTC, point ids uuid text.
CREATE TABLE qdrant_vectors (
    collection  TEXT NOT NULL,
    point_id    TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    source_type TEXT NOT NULL,
    table_name  TEXT NOT NULL,
    external_id TEXT NOT NULL,
    chunk       INTEGER NOT NULL,
    model       TEXT NOT NULL,
    dimension   INTEGER NOT NULL,
    text_hash   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (collection, point_id),
    CHECK (chunk >= 0 AND dimension > 0)
);
CREATE INDEX qdrant_vectors_entity ON qdrant_vectors (tenant, table_name, external_id);
CREATE INDEX qdrant_vectors_source ON qdrant_vectors (tenant, source_type);
