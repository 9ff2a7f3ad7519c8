#!/usr/bin/env bash
# Run the whole test suite: install test dependencies into .venv, then pytest on SQLite and on
# the PostgreSQL server at 127.0.0.1:5432 (skipped if absent, unless HOTLINE_TEST_REQUIRE_POSTGRES=1).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
exec .venv/bin/pytest "$@"
