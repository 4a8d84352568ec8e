"""Custom-field discovery and mapping: `/rest/api/3/field` → the special fields, 20 mapped
columns (`custom_field_01..20`) and a JSON overflow.

Fields are recognised by their `schema.custom` type key and their name, never by a
`customfield_N` id: ids differ from one Jira site to the next. Pure functions, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor.etl.jira.adf import document_text

_GH = "com.pyxis.greenhopper.jira:"
_SYSTEM = "com.atlassian.jira.plugin.system.customfieldtypes:"
STORY_POINTS_TYPE = _GH + "jsw-story-points"
FLOAT_TYPE = _SYSTEM + "float"
SPRINT_TYPE = _GH + "gh-sprint"
EPIC_LINK_TYPE = _GH + "gh-epic-link"
RANK_TYPE = _GH + "gh-lexo-rank"
TEAM_TYPES = frozenset({_SYSTEM + "atlassian-team", "com.atlassian.teams:rm-teams-custom-field-team"})
DEVELOPMENT_TYPES = frozenset({
    "com.atlassian.jira.plugins.jira-development-integration-plugin:devsummarycf",
    "com.atlassian.jira.plugins.jira-development-integration-plugin:devsummary",
})
MAPPED_COLUMNS = tuple(f"custom_field_{n:02d}" for n in range(1, 21))
_CODE_CHANGED_NAME = re.compile(r"code[\s_-]*chang", re.IGNORECASE)
_TRUE_WORDS = frozenset({"yes", "true", "y", "1", "on", "checked"})
_FALSE_WORDS = frozenset({"no", "false", "n", "0", "off", ""})


class CustomFieldMappingError(ValueError):
    """A custom-field mapping that cannot be applied; the message names the field or column."""


@dataclass(frozen=True, slots=True)
class CustomField:
    id: str                  # customfield_10016
    name: str                # Story point estimate
    custom_type: str         # schema.custom, e.g. com.pyxis.greenhopper.jira:jsw-story-points
    schema_type: str         # schema.type: number, string, option, array, team, any, ...
    items: str | None = None  # schema.items for arrays
    custom_id: int | None = None

    @property
    def field_type(self) -> str:
        """The short type stored in `custom_fields.field_type`: team, number, option, array...."""
        if self.custom_type in TEAM_TYPES:
            return "team"
        return self.schema_type or "any"


@dataclass(frozen=True, slots=True)
class FieldDiscovery:
    """Every custom field of a site, with the ones that have a special meaning picked out."""

    custom_fields: tuple[CustomField, ...]
    team: CustomField | None
    story_points: tuple[CustomField, ...]  # classic float "Story Points" first, then jsw-story-points
    code_changed: CustomField | None
    development: CustomField | None
    sprint: CustomField | None
    epic_link: CustomField | None

    def by_id(self) -> dict[str, CustomField]:
        return {f.id: f for f in self.custom_fields}


def _custom_field(payload: Mapping[str, Any]) -> CustomField | None:
    schema = payload.get("schema") or {}
    custom_type = schema.get("custom")
    if not payload.get("custom") and not custom_type:
        return None
    custom_id = schema.get("customId")
    return CustomField(
        id=str(payload.get("id") or payload.get("key")), name=str(payload.get("name", "")).strip(),
        custom_type=str(custom_type or ""), schema_type=str(schema.get("type") or ""),
        items=schema.get("items"), custom_id=int(custom_id) if isinstance(custom_id, int) else None)


def _order(f: CustomField) -> tuple[int, str]:
    return (f.custom_id if f.custom_id is not None else 2**31, f.id)


def _is_story_points(f: CustomField) -> bool:
    if f.custom_type == STORY_POINTS_TYPE:
        return True
    return f.custom_type == FLOAT_TYPE and " ".join(f.name.lower().split()) in ("story points", "story point")


def discover_custom_fields(fields: Iterable[Mapping[str, Any]]) -> FieldDiscovery:
    """Classify the payload of `GET /rest/api/3/field` (or the `values` of `/field/search`)."""
    custom = sorted((cf for cf in (_custom_field(p) for p in fields) if cf is not None), key=_order)

    def first(pred: Any) -> CustomField | None:
        return next((f for f in custom if pred(f)), None)

    story_points = sorted((f for f in custom if _is_story_points(f)),
                          key=lambda f: (f.custom_type != FLOAT_TYPE, f.name.lower() != "story points", _order(f)))
    code_changed = first(lambda f: f.custom_type not in DEVELOPMENT_TYPES and bool(_CODE_CHANGED_NAME.search(f.name)))
    return FieldDiscovery(
        custom_fields=tuple(custom),
        team=first(lambda f: f.custom_type in TEAM_TYPES) or first(lambda f: f.name.lower() == "team"),
        story_points=tuple(story_points),
        code_changed=code_changed,
        development=first(lambda f: f.custom_type in DEVELOPMENT_TYPES),
        sprint=first(lambda f: f.custom_type == SPRINT_TYPE),
        epic_link=first(lambda f: f.custom_type == EPIC_LINK_TYPE),
    )


@dataclass(frozen=True, slots=True)
class CustomFieldMapping:
    """Which Jira field feeds which column. The seed keeps one story-points field; a site with
    classic and team-managed projects has two, so this keeps an ordered list (first value wins)."""

    team_field_id: str | None = None
    story_points_field_ids: tuple[str, ...] = ()
    code_changed_field_id: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)  # custom_field_07 -> customfield_10042

    def validate(self, discovery: FieldDiscovery) -> CustomFieldMapping:
        """Self, or CustomFieldMappingError naming the first problem."""
        known = discovery.by_id()
        for column in self.columns:
            if column not in MAPPED_COLUMNS:
                raise CustomFieldMappingError(
                    f"unknown column {column!r}: the mapped columns are custom_field_01 to custom_field_20")
        used: dict[str, str] = {}
        specials = [("team", self.team_field_id), ("code_changed", self.code_changed_field_id)]
        specials += [("story_points", f) for f in self.story_points_field_ids]
        for target, field_id in [*specials, *self.columns.items()]:
            if field_id is None:
                continue
            if field_id not in known:
                raise CustomFieldMappingError(f"{target}: field {field_id!r} is not a custom field of this Jira site")
            if field_id in used and not (target == used[field_id] == "story_points"):
                raise CustomFieldMappingError(
                    f"field {field_id!r} ({known[field_id].name}) is mapped twice: to {used[field_id]} and to {target}")
            used[field_id] = target
        for field_id in self.story_points_field_ids:
            if known[field_id].schema_type != "number":
                raise CustomFieldMappingError(
                    f"story_points: field {field_id!r} ({known[field_id].name}) is of type "
                    f"{known[field_id].schema_type!r}, not a number")
        return self


def default_mapping(discovery: FieldDiscovery) -> CustomFieldMapping:
    """Special fields as discovered; the 20 columns filled with Sprint, Epic Link, then the other
    custom fields by custom id. Rank and Development are left to the overflow."""
    special = {f.id for f in (discovery.team, discovery.code_changed, discovery.development) if f}
    special |= {f.id for f in discovery.story_points}
    candidates = [f for f in (discovery.sprint, discovery.epic_link) if f]
    candidates += [f for f in discovery.custom_fields if f not in candidates]
    chosen = [f for f in candidates if f.id not in special and f.custom_type not in (RANK_TYPE, *DEVELOPMENT_TYPES)]
    return CustomFieldMapping(
        team_field_id=discovery.team.id if discovery.team else None,
        story_points_field_ids=tuple(f.id for f in discovery.story_points),
        code_changed_field_id=discovery.code_changed.id if discovery.code_changed else None,
        columns=dict(zip(MAPPED_COLUMNS, (f.id for f in chosen), strict=False)),
    )


@dataclass(frozen=True, slots=True)
class MappedFields:
    """An issue's custom-field values as `work_items` stores them."""

    team: str | None
    story_points: float | None
    code_changed: bool | None
    columns: dict[str, str | None]  # all 20 columns, None when unmapped or empty
    overflow: dict[str, Any]        # every other non-empty customfield_* value, unchanged


def render_value(value: Any) -> str | None:
    """Text for a mapped column: option values, user/team names, sprint names, ADF as plain text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [render_value(v) for v in value]
        return ", ".join(p for p in parts if p) or None
    if isinstance(value, dict):
        if value.get("type") == "doc":
            return document_text(value) or None
        for key in ("value", "displayName", "name", "title", "key"):
            if value.get(key) not in (None, ""):
                child = value.get("child")
                text = str(value[key])
                return f"{text} / {render_value(child)}" if isinstance(child, dict) else text
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, list):
        flags = [_flag(v) for v in value]
        return any(f for f in flags) if value else False
    text = render_value(value)
    word = (text or "").strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return None


def apply_mapping(mapping: CustomFieldMapping, issue_fields: Mapping[str, Any]) -> MappedFields:
    """Split an issue's `fields` into the special values, the 20 columns and the overflow."""
    team_value = issue_fields.get(mapping.team_field_id) if mapping.team_field_id else None
    story_points = next((n for n in (_number(issue_fields.get(f)) for f in mapping.story_points_field_ids)
                         if n is not None), None)
    code_changed = _flag(issue_fields.get(mapping.code_changed_field_id)) if mapping.code_changed_field_id else None
    columns = {c: render_value(issue_fields.get(mapping.columns[c])) if c in mapping.columns else None
               for c in MAPPED_COLUMNS}
    taken = {*mapping.columns.values(), *mapping.story_points_field_ids,
             mapping.team_field_id, mapping.code_changed_field_id}
    overflow = {k: v for k, v in sorted(issue_fields.items())
                if k.startswith("customfield_") and k not in taken and v not in (None, [], "", {})}
    return MappedFields(team=render_value(team_value), story_points=story_points,
                        code_changed=code_changed, columns=columns, overflow=overflow)
