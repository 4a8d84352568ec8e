"""Reading and changing an integration's custom-field mapping and status mappings. A change is
validated whole (nothing written on bad input) and then applied to the loaded work items by a
re-transform from raw (no HTTP call)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select

from conveyor.etl.db import upsert
from conveyor.etl.jira.custom_fields import (
    MAPPED_COLUMNS,
    CustomFieldMapping,
    CustomFieldMappingError,
    discover_custom_fields,
)
from conveyor.etl.jira.load import Owner, current_mapping, current_steps, save_mapping
from conveyor.etl.jira.metrics import WorkflowStep
from conveyor.etl.jira.tables import custom_fields, status_mappings, statuses
from conveyor.integrations.types import IntegrationInputError


def _discovery(engine: Engine, owner: Owner) -> Any:
    with engine.connect() as conn:
        rows = conn.execute(select(custom_fields).where(owner.where(custom_fields))).all()
    payload = [{"id": r.external_id, "name": r.name, "custom": True,
                "schema": {"type": "number" if r.schema_type == "number" else r.schema_type, "custom": r.custom_type,
                           **({"items": r.items} if r.items else {})}} for r in rows]
    return discover_custom_fields(payload)


def read_mapping(engine: Engine, owner: Owner) -> dict[str, Any]:
    with engine.connect() as conn:
        mapping, development = current_mapping(conn, owner)
        fields = conn.execute(select(custom_fields).where(owner.where(custom_fields))
                              .order_by(custom_fields.c.external_id)).all()
    return {"team_field_id": mapping.team_field_id, "story_points_field_ids": list(mapping.story_points_field_ids),
            "code_changed_field_id": mapping.code_changed_field_id, "development_field_id": development,
            "columns": {c: mapping.columns.get(c) for c in MAPPED_COLUMNS},
            "fields": [{"id": f.external_id, "name": f.name, "type": f.schema_type, "custom_type": f.custom_type}
                       for f in fields]}


def change_mapping(engine: Engine, owner: Owner, body: Mapping[str, Any]) -> dict[str, Any]:
    """Replace the mapping with `body` (team_field_id, story_points_field_ids, code_changed_field_id,
    columns); IntegrationInputError when it does not fit the site's fields."""
    known = {"team_field_id", "story_points_field_ids", "code_changed_field_id", "columns"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise IntegrationInputError(f"Unknown mapping field(s): {', '.join(unknown)}.", field=unknown[0],
                                    action=f"A mapping has: {', '.join(sorted(known))}.")
    columns = body.get("columns") or {}
    points = body.get("story_points_field_ids") or []
    if not isinstance(columns, Mapping) or not all(isinstance(v, str) or v is None for v in columns.values()):
        raise IntegrationInputError("columns must map custom_field_NN to a field id (or null).", field="columns")
    if not isinstance(points, list) or not all(isinstance(p, str) for p in points):
        raise IntegrationInputError("story_points_field_ids must be a list of field ids.",
                                    field="story_points_field_ids")
    mapping = CustomFieldMapping(team_field_id=body.get("team_field_id"), story_points_field_ids=tuple(points),
                                 code_changed_field_id=body.get("code_changed_field_id"),
                                 columns={k: v for k, v in columns.items() if v})
    discovery = _discovery(engine, owner)
    try:
        mapping.validate(discovery)
    except CustomFieldMappingError as exc:
        raise IntegrationInputError(f"The mapping does not fit this Jira site: {exc}.", field="mapping") from None
    with engine.begin() as conn:
        save_mapping(conn, owner, mapping, current_mapping(conn, owner)[1], edited=True)
    return read_mapping(engine, owner)


def read_status_mappings(engine: Engine, owner: Owner) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        steps = current_steps(conn, owner)
        rows = conn.execute(select(statuses).where(owner.where(statuses)).order_by(statuses.c.name,
                                                                                  statuses.c.external_id)).all()
    return [{"status_id": r.external_id, "name": r.name, "category": r.category, "project_id": r.project_external_id,
             "workflow_step": steps[r.external_id].value if r.external_id in steps else None} for r in rows]


def change_status_mappings(engine: Engine, owner: Owner, changes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """{status_id: workflow step}; every id must be a status of the site, every step a known one."""
    with engine.connect() as conn:
        known = {str(r[0]) for r in conn.execute(select(statuses.c.external_id).where(owner.where(statuses)))}
    allowed = [s.value for s in WorkflowStep]
    for status_id, step in changes.items():
        if status_id not in known:
            raise IntegrationInputError(f"No status {status_id!r} in this Jira site.", field=status_id,
                                        action="GET the status mappings for the ids.")
        if step not in allowed:
            raise IntegrationInputError(f"Unknown workflow step {step!r} for status {status_id}.", field=status_id,
                                        action=f"Use one of: {', '.join(allowed)}.")
    with engine.begin() as conn:
        upsert(conn, status_mappings, [owner.row(status_external_id=sid, workflow_step=step, edited=True)
                                       for sid, step in changes.items()],
               keys=["tenant", "integration_id", "status_external_id"])
    return read_status_mappings(engine, owner)
