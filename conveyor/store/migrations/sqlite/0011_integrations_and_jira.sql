-- Integrations and the Jira domain tables: see the PostgreSQL migration 0011.
CREATE TABLE integrations (
    id                TEXT PRIMARY KEY,
    tenant            TEXT NOT NULL,
    type              TEXT NOT NULL,
    name              TEXT NOT NULL,
    base_url          TEXT NOT NULL,
    credentials       TEXT NOT NULL,
    credential_fields TEXT NOT NULL DEFAULT '[]',
    settings          TEXT NOT NULL DEFAULT '{}',
    active            BOOLEAN NOT NULL DEFAULT 1,
    last_test         TEXT,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL,
    UNIQUE (tenant, name)
);
CREATE INDEX integrations_tenant_type ON integrations (tenant, type);
