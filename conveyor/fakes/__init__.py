"""Local fake servers that speak real third-party APIs, for tests, benchmarks and the demo."""
