"""Jira Cloud integration: REST client, custom-field discovery, changelogs and workflow metrics."""
