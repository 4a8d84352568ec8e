#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: virtualenv, dependencies, Chromium for the
# dashboard tests, then pytest (SQLite and a real PostgreSQL: CONVEYOR_TEST_POSTGRES_URL, else a
# local server, else a throwaway cluster from the local PostgreSQL binaries). Extra arguments go
# to pytest, e.g. ./test.sh -k sigkill
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/venv.sh test
bash scripts/install-browser.sh
exec .venv/bin/python -m pytest "$@"
