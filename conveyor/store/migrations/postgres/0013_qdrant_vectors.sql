-- Embeddings (issue 17): the qdrant_vectors bridge table, one row per Qdrant point of a database row.
-- Declared in conveyor/etl/embeddings/bridge_table.py (SQLAlchemy Core); keep both in step.
CREATE TABLE qdrant_vectors (
    collection  text NOT NULL,              -- one Qdrant collection per model and dimension
    point_id    uuid NOT NULL,              -- uuid5(tenant/table/external id/chunk)
    tenant      text NOT NULL,
    source_type text NOT NULL,              -- JIRA, GITHUB
    table_name  text NOT NULL,              -- the domain table the row lives in (work_items, ...)
    external_id text NOT NULL,              -- PROJ-123, owner/repo#42, ...
    chunk       integer NOT NULL,           -- 0.. for a text split to fit the model's window
    model       text NOT NULL,              -- the model that made the vector
    dimension   integer NOT NULL,
    text_hash   text NOT NULL,              -- sha256 of the whole text: unchanged text is not re-embedded
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection, point_id),
    CHECK (chunk >= 0 AND dimension > 0)
);
-- The stage reads an entity's rows by (tenant, table, external id); counts go by tenant and source.
CREATE INDEX qdrant_vectors_entity ON qdrant_vectors (tenant, table_name, external_id);
CREATE INDEX qdrant_vectors_source ON qdrant_vectors (tenant, source_type);
