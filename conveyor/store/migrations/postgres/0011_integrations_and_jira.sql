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

-- Jira domain tables (conveyor/etl/jira/tables.py; generated from those declarations, then kept here).
CREATE TABLE jira_sync_runs (
    run_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_since TIMESTAMP WITH TIME ZONE,
    time_zone TEXT,
    jql TEXT,
    expected_issues INTEGER,
    deletion_sweep BOOLEAN NOT NULL,
    PRIMARY KEY (run_id)
);
CREATE TABLE jira_cursors (
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    cursor JSONB,
    pages INTEGER NOT NULL,
    done BOOLEAN NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE jira_step_metrics (
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    stage TEXT NOT NULL,
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    api_calls INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    records INTEGER NOT NULL,
    expected INTEGER,
    rate_limit_hits INTEGER NOT NULL,
    parked_seconds FLOAT NOT NULL,
    parked_until TIMESTAMP WITH TIME ZONE,
    retries INTEGER NOT NULL,
    seconds FLOAT NOT NULL,
    items INTEGER NOT NULL,
    note TEXT,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (run_id, step, stage)
);
CREATE TABLE projects (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT,
    style TEXT,
    project_type TEXT,
    lead_account_id TEXT,
    updated_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (tenant, integration_id, external_id)
);
CREATE TABLE work_item_types (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    project_external_id TEXT,
    subtask BOOLEAN,
    hierarchy_level INTEGER,
    updated_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (tenant, integration_id, external_id)
);
CREATE TABLE statuses (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    category TEXT,
    project_external_id TEXT,
    updated_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (tenant, integration_id, external_id)
);
CREATE TABLE status_mappings (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    status_external_id TEXT NOT NULL,
    workflow_step TEXT NOT NULL,
    edited BOOLEAN NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (tenant, integration_id, status_external_id)
);
CREATE TABLE work_item_link_types (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    inward TEXT,
    outward TEXT,
    PRIMARY KEY (tenant, integration_id, external_id)
);
CREATE TABLE custom_fields (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    custom_type TEXT,
    schema_type TEXT,
    items TEXT,
    updated_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (tenant, integration_id, external_id)
);
CREATE TABLE custom_fields_mapping (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    team_field_id TEXT,
    story_points_field_ids JSONB NOT NULL,
    code_changed_field_id TEXT,
    development_field_id TEXT,
    columns JSONB NOT NULL,
    edited BOOLEAN NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (tenant, integration_id)
);
CREATE TABLE projects_custom_fields (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    project_external_id TEXT NOT NULL,
    field_external_id TEXT NOT NULL,
    PRIMARY KEY (tenant, integration_id, project_external_id, field_external_id)
);
CREATE TABLE work_items (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    key TEXT NOT NULL,
    project_external_id TEXT,
    project_key TEXT,
    type_external_id TEXT,
    type_name TEXT,
    summary TEXT NOT NULL,
    description TEXT,
    status_external_id TEXT,
    status_name TEXT,
    status_category TEXT,
    workflow_step TEXT,
    assignee_account_id TEXT,
    assignee_name TEXT,
    reporter_account_id TEXT,
    priority TEXT,
    labels JSONB,
    parent_key TEXT,
    created TIMESTAMP WITH TIME ZONE NOT NULL,
    updated TIMESTAMP WITH TIME ZONE NOT NULL,
    resolved TIMESTAMP WITH TIME ZONE,
    story_points FLOAT,
    team TEXT,
    code_changed BOOLEAN,
    pull_request_count INTEGER,
    custom_field_01 TEXT,
    custom_field_02 TEXT,
    custom_field_03 TEXT,
    custom_field_04 TEXT,
    custom_field_05 TEXT,
    custom_field_06 TEXT,
    custom_field_07 TEXT,
    custom_field_08 TEXT,
    custom_field_09 TEXT,
    custom_field_10 TEXT,
    custom_field_11 TEXT,
    custom_field_12 TEXT,
    custom_field_13 TEXT,
    custom_field_14 TEXT,
    custom_field_15 TEXT,
    custom_field_16 TEXT,
    custom_field_17 TEXT,
    custom_field_18 TEXT,
    custom_field_19 TEXT,
    custom_field_20 TEXT,
    custom_fields_overflow JSONB,
    work_first_committed_at TIMESTAMP WITH TIME ZONE,
    work_first_started_at TIMESTAMP WITH TIME ZONE,
    work_last_started_at TIMESTAMP WITH TIME ZONE,
    total_work_starts INTEGER,
    work_first_completed_at TIMESTAMP WITH TIME ZONE,
    work_last_completed_at TIMESTAMP WITH TIME ZONE,
    total_completions INTEGER,
    total_backlog_returns INTEGER,
    total_work_time_seconds BIGINT,
    total_review_time_seconds BIGINT,
    total_cycle_time_seconds BIGINT,
    total_lead_time_seconds BIGINT,
    rework_indicator BOOLEAN,
    direct_completion BOOLEAN,
    workflow_complexity_score INTEGER,
    history_count INTEGER NOT NULL,
    deleted BOOLEAN NOT NULL,
    deleted_at TIMESTAMP WITH TIME ZONE,
    raw_id BIGINT,
    dev_status_for TIMESTAMP WITH TIME ZONE,
    loaded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (tenant, integration_id, external_id)
);
CREATE INDEX work_items_tenant_key ON work_items (tenant, key);
CREATE INDEX work_items_tenant_updated ON work_items (tenant, updated, external_id);
CREATE TABLE work_item_changelogs (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    issue_external_id TEXT NOT NULL,
    history_id TEXT NOT NULL,
    item_index INTEGER NOT NULL,
    created TIMESTAMP WITH TIME ZONE NOT NULL,
    author_account_id TEXT,
    field TEXT NOT NULL,
    field_id TEXT,
    from_value TEXT,
    from_string TEXT,
    to_value TEXT,
    to_string TEXT,
    PRIMARY KEY (tenant, integration_id, issue_external_id, history_id, item_index)
);
CREATE TABLE work_item_links (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    link_id TEXT NOT NULL,
    issue_external_id TEXT NOT NULL,
    other_external_id TEXT,
    other_key TEXT,
    link_type TEXT,
    direction TEXT,
    description TEXT,
    PRIMARY KEY (tenant, integration_id, issue_external_id, link_id)
);
CREATE TABLE work_item_comments (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    comment_id TEXT NOT NULL,
    issue_external_id TEXT NOT NULL,
    author_account_id TEXT,
    body TEXT,
    created TIMESTAMP WITH TIME ZONE,
    updated TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (tenant, integration_id, comment_id)
);
CREATE TABLE work_item_pull_requests (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    issue_external_id TEXT NOT NULL,
    pr_id TEXT NOT NULL,
    url TEXT,
    title TEXT,
    status TEXT,
    repository TEXT,
    source_branch TEXT,
    destination_branch TEXT,
    author TEXT,
    last_update TEXT,
    PRIMARY KEY (tenant, integration_id, issue_external_id, pr_id)
);
