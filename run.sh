#!/usr/bin/env bash
# Runs Conveyor on a fresh machine: virtualenv, dependencies, then `conveyor up` — embedded
# SQLite (./conveyor.db), the API and dashboard on http://127.0.0.1:8000, a worker process and
# the demo tasks. Extra arguments go to `conveyor up`, e.g. ./run.sh --workers 2 --port 8080
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/venv.sh
exec .venv/bin/conveyor up "$@"
