#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: virtualenv, dependencies, Chromium for the
# dashboard tests, then pytest (SQLite and a real PostgreSQL: CONVEYOR_TEST_POSTGRES_URL, else a
# local server, else a throwaway cluster from the local PostgreSQL binaries). Extra arguments go
# to pytest, e.g. ./test.sh -k sigkill. CONVEYOR_TEST_PROCESSES=N runs the tests in N pytest
# processes (pytest-xdist), each with its own database; the default is one process, until the
# suite is shown green that way on a quiet machine (timing-bound tests suffer on a loaded one).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/venv.sh test
bash scripts/install-browser.sh
parallel=()
[ -n "${CONVEYOR_TEST_PROCESSES:-}" ] && parallel=(-n "$CONVEYOR_TEST_PROCESSES" --dist worksteal)
exec .venv/bin/python -m pytest "${parallel[@]}" "$@"
