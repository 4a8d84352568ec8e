"""Custom-field discovery and mapping: by schema.custom type and name, never by customfield id."""

from __future__ import annotations

import pytest

from conveyor.etl.jira.client import JiraClient
from conveyor.etl.jira.custom_fields import (
    MAPPED_COLUMNS,
    CustomFieldMapping,
    CustomFieldMappingError,
    apply_mapping,
    default_mapping,
    discover_custom_fields,
    render_value,
)
from conveyor.etl.jira.dev_status import instance_types, pull_request_count, pull_requests
from conveyor.fakes.jira import FakeJira

GH = "com.pyxis.greenhopper.jira:"
SYS = "com.atlassian.jira.plugin.system.customfieldtypes:"


def field(fid: str, name: str, schema_type: str, custom: str | None = None) -> dict:
    schema = {"type": schema_type}
    if custom:
        schema.update(custom=custom, customId=int(fid.rsplit("_", 1)[1]))
    else:
        schema["system"] = fid
    return {"id": fid, "key": fid, "name": name, "custom": custom is not None, "schema": schema}


# A site whose ids differ from the fake's: discovery must not care.
SITE = [
    field("summary", "Summary", "string"),
    field("customfield_20500", "Story point estimate", "number", GH + "jsw-story-points"),
    field("customfield_20100", "Story Points", "number", SYS + "float"),
    field("customfield_20200", "Team", "team", SYS + "atlassian-team"),
    field("customfield_20300", "Development", "any",
          "com.atlassian.jira.plugins.jira-development-integration-plugin:devsummary"),
    field("customfield_20400", "Code changed?", "option", SYS + "select"),
    field("customfield_20600", "Sprint", "array", GH + "gh-sprint"),
    field("customfield_20700", "Rank", "any", GH + "gh-lexo-rank"),
    field("customfield_20001", "Effort (float, not points)", "number", SYS + "float"),
    *[field(f"customfield_{21000 + i}", f"Extra {i}", "string", SYS + "textfield") for i in range(25)],
]


def test_special_fields_are_found_by_type_and_name() -> None:
    found = discover_custom_fields(SITE)
    assert [f.id for f in found.story_points] == ["customfield_20100", "customfield_20500"]  # classic first
    assert found.team is not None and found.team.id == "customfield_20200" and found.team.field_type == "team"
    assert found.code_changed is not None and found.code_changed.id == "customfield_20400"
    assert found.development is not None and found.development.id == "customfield_20300"
    assert found.sprint is not None and found.sprint.id == "customfield_20600"
    assert len(found.custom_fields) == len(SITE) - 1  # every custom field, not "summary"


def test_default_mapping_fills_twenty_columns_and_leaves_the_rest_to_overflow() -> None:
    found = discover_custom_fields(SITE)
    mapping = default_mapping(found).validate(found)
    assert list(mapping.columns) == list(MAPPED_COLUMNS)
    assert mapping.columns["custom_field_01"] == "customfield_20600"  # Sprint first
    assert mapping.columns["custom_field_02"] == "customfield_20001"  # then by custom id
    used = set(mapping.columns.values())
    assert not used & {"customfield_20100", "customfield_20500", "customfield_20200", "customfield_20300",
                       "customfield_20400", "customfield_20700"}
    issue = {"summary": "x", "customfield_20100": None, "customfield_20500": 5,
             "customfield_20200": {"id": "t-1", "name": "Platform"}, "customfield_20400": {"value": "Yes"},
             "customfield_20600": [{"id": 3, "name": "Sprint 3"}, {"id": 4, "name": "Sprint 4"}],
             "customfield_20001": 2.5, "customfield_21024": "overflowing", "customfield_20700": "0|i0001:",
             "customfield_21023": None}
    mapped = apply_mapping(mapping, issue)
    assert mapped.story_points == 5.0 and mapped.team == "Platform" and mapped.code_changed is True
    assert mapped.columns["custom_field_01"] == "Sprint 3, Sprint 4"
    assert mapped.columns["custom_field_02"] == "2.5" and mapped.columns["custom_field_20"] is None
    assert mapped.overflow == {"customfield_20700": "0|i0001:", "customfield_21024": "overflowing"}


def test_a_bad_mapping_is_refused_naming_the_problem() -> None:
    found = discover_custom_fields(SITE)
    with pytest.raises(CustomFieldMappingError, match="unknown column 'custom_field_21'"):
        CustomFieldMapping(columns={"custom_field_21": "customfield_20600"}).validate(found)
    with pytest.raises(CustomFieldMappingError, match="'customfield_99999' is not a custom field"):
        CustomFieldMapping(team_field_id="customfield_99999").validate(found)
    with pytest.raises(CustomFieldMappingError, match="mapped twice: to team and to custom_field_03"):
        CustomFieldMapping(team_field_id="customfield_20200",
                           columns={"custom_field_03": "customfield_20200"}).validate(found)
    with pytest.raises(CustomFieldMappingError, match="of type 'team', not a number"):
        CustomFieldMapping(story_points_field_ids=("customfield_20200",)).validate(found)


def test_values_render_as_text() -> None:
    assert render_value({"value": "Parent", "child": {"value": "Child"}}) == "Parent / Child"
    assert render_value({"accountId": "abc", "displayName": "Ada"}) == "Ada"
    assert render_value({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Line one"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "Line two"}]}]}) == "Line one\nLine two"
    assert render_value(3.0) == "3" and render_value(True) == "true" and render_value([]) is None
    assert render_value({"accountId": "abc"}) == '{"accountId":"abc"}'


def test_discovery_on_the_fake_sites_fields(client: JiraClient, fake_jira: FakeJira) -> None:
    found = discover_custom_fields(client.fields().items)
    assert [f.name for f in found.story_points] == ["Story Points", "Story point estimate"]
    assert found.team and found.code_changed and found.development and found.sprint and found.epic_link
    mapping = default_mapping(found).validate(found)
    assert len(mapping.columns) == 20
    issues = [i for p in client.search_pages('project in ("ALPHA", "TEAM")', ["*all"]) for i in p.items]
    by_key = {i["key"]: apply_mapping(mapping, i["fields"]) for i in issues}
    data = fake_jira.dataset
    for key, mapped in by_key.items():
        issue = data.find(key)
        points = issue.custom.get("customfield_10016" if key.startswith("TEAM") else "customfield_10026")
        assert mapped.story_points == (None if points is None else float(points))  # both kinds of project
        assert mapped.team == issue.custom["customfield_10001"]["name"]
    assert any(m.overflow for m in by_key.values())


def test_development_field_gates_dev_status(client: JiraClient, fake_jira: FakeJira) -> None:
    issues = [i for p in client.search_pages('project = "ALPHA"', ["customfield_10000"]) for i in p.items]
    for issue in issues:
        expected = len(fake_jira.dataset.find(issue["key"]).pull_requests)
        assert pull_request_count(issue["fields"]["customfield_10000"]) == expected
    with_prs = next(i for i in issues if pull_request_count(i["fields"]["customfield_10000"]))
    assert instance_types(client.dev_status_summary(with_prs["id"]).body) == ["GitHub"]
    links = pull_requests(client.dev_status_pull_requests(with_prs["id"]).body)
    assert links and all(pr.status in ("OPEN", "MERGED", "DECLINED") and pr.destination_branch == "main"
                         for pr in links)
    assert pull_request_count("PullRequestOverallDetails{openCount=1, mergedCount=2, declinedCount=0}") == 3
    assert pull_request_count("{pullrequest={dataType=pullrequest, state=OPEN, stateCount=4}}") == 4
    assert pull_request_count("{}") == 0 and pull_request_count("{pullrequest=garbled") is None
