#!/usr/bin/env bash
# Set up (scripts/bootstrap.sh) and run every gate: ruff, mypy, the import contract, pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -k protocol).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev,bench,desktop
V=.venv/bin

step() { printf '\n=== %s\n' "$*"; }

step "ruff (lint and format)"
$V/ruff check .
$V/ruff format --check .

step "mypy (strict on shared/, the routing core, simulator, staffing and the desktop model)"
$V/mypy shared cti_server agent_desktop bench

step "import contract (cores import no I/O, Qt or pjsua2)"
$V/lint-imports

if [ -z "${OPENCC_TEST_PG_URL:-}" ] && command -v pg_isready >/dev/null 2>&1 \
        && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    export OPENCC_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test"
fi
step "pytest${OPENCC_TEST_PG_URL:+ (PostgreSQL: $OPENCC_TEST_PG_URL)}"
export QT_QPA_PLATFORM=offscreen
# pytest exits 5 when it collected no tests: that fails this script like any other failure.
# --durations: the slowest tests are printed, to keep CI under its 15-minute budget.
# Worker processes (pytest-xdist), one test file per worker at a time (module fixtures
# such as a whole server and switch stay in one process, tests of a file keep their
# order); OPENCC_TEST_WORKERS=0 runs everything in this process.
WORKERS="${OPENCC_TEST_WORKERS:-3}"
if [ "$WORKERS" = "0" ]; then
    $V/python -m pytest --durations=15 "$@"
else
    $V/python -m pytest -n "$WORKERS" --dist loadfile --durations=15 "$@"
fi
