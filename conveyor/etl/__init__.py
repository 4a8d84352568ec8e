"""Extract-transform-load integrations (Jira, GitHub, embeddings), organised by provider."""
