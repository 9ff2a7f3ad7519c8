#!/usr/bin/env bash
# Run the hotline on the embedded default: install into .venv, prepare the SQLite database with
# the demo offices, and serve on http://127.0.0.1:${PORT:-8000}/ with gunicorn.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/flask --app wsgi db upgrade
.venv/bin/flask --app wsgi demo load
.venv/bin/flask --app wsgi demo accounts
# The scheduled work (SMS dispatch, reminders, broadcasts, expired holds) runs in its own process.
.venv/bin/flask --app wsgi scheduler run &
scheduler=$!
.venv/bin/gunicorn --workers "${WORKERS:-2}" --bind "127.0.0.1:${PORT:-8000}" --no-control-socket --logger-class hotline.logs.GunicornLogger wsgi:app &
server=$!
# Ctrl-C or a TERM stops both; if either stops by itself, the other is stopped too.
trap 'kill $scheduler $server 2>/dev/null; wait $scheduler $server 2>/dev/null' EXIT INT TERM
echo "Hotline on http://127.0.0.1:${PORT:-8000}/ (Ctrl-C stops it)"
wait -n $scheduler $server
