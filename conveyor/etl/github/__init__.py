"""GitHub ETL: GraphQL client, queries, PR metrics and Jira key links; a fake GitHub for tests and the demo."""
