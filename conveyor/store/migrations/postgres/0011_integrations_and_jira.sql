-- Integrations (one connection to Jira, GitHub ... per row; credentials Fernet-encrypted) and
-- the Jira domain tables. Declared for SQLAlchemy in conveyor/integrations/table.py and
-- conveyor/etl/jira/tables.py.
CREATE TABLE integrations (
    id                text PRIMARY KEY,
    tenant            text NOT NULL,
    type              text NOT NULL,
    name              text NOT NULL,
    base_url          text NOT NULL,
    credentials       text NOT NULL,
    credential_fields jsonb NOT NULL DEFAULT '[]',
    settings          jsonb NOT NULL DEFAULT '{}',
    active            boolean NOT NULL DEFAULT true,
    last_test         jsonb,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    UNIQUE (tenant, name)
);
CREATE INDEX integrations_tenant_type ON integrations (tenant, type);
