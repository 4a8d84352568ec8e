"""The HTTP API (FastAPI): create_app(conveyor_app) / serve(conveyor_app, host, port, auth)."""
