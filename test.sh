#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: virtualenv, dependencies, Chromium for the
# dashboard tests, then pytest (SQLite and a real PostgreSQL: CONVEYOR_TEST_POSTGRES_URL, else a
# local server, else a throwaway cluster from the local PostgreSQL binaries). Extra arguments go
# to pytest, e.g. ./test.sh -k sigkill. The tests run in CONVEYOR_TEST_PROCESSES pytest processes
# (pytest-xdist, default 2): much of the suite waits on worker subprocesses, HTTP fakes and the
# browser, so two processes keep both cores busy; each process has its own database. Set it to 0
# to run in this one process.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/venv.sh test
bash scripts/install-browser.sh
exec .venv/bin/python -m pytest -n "${CONVEYOR_TEST_PROCESSES:-2}" --dist worksteal "$@"
