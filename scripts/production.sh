#!/usr/bin/env bash
# Production on one machine: upgrade the schema, then gunicorn with several workers and two
# schedulers (a leader and a hot standby), all against one PostgreSQL database. README, "Production".
#
#   DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/hotline SECRET_KEY=… TWILIO_AUTH_TOKEN=… \
#     bash scripts/production.sh
#
# Script variables (not app settings): PORT (8000), BIND_ADDRESS (127.0.0.1: a reverse proxy on this
# machine in front), GUNICORN_WORKERS (2 x cores + 1, at most 9), GUNICORN_TIMEOUT (30),
# GUNICORN_GRACEFUL_TIMEOUT (30), VENV (.venv). Ctrl-C or SIGTERM stops everything gracefully; a
# scheduler that dies is started again after 5 s (the other leads meanwhile); if gunicorn dies, all
# stop and the script exits non-zero, for the service manager to restart it.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "production.sh: $*" >&2; exit 2; }
case "${DATABASE_URL:-}" in
  postgresql*) ;;
  "") fail "set DATABASE_URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/hotline" ;;
  *) fail "DATABASE_URL must name a PostgreSQL database (bash run.sh serves the embedded SQLite)" ;;
esac
# The app refuses to start without them as well; saying so here names them before anything starts.
for var in SECRET_KEY TWILIO_AUTH_TOKEN; do
  [ -n "${!var:-}" ] || fail "$var must be set in the environment (production has no default secrets)"
done
export HOTLINE_ENV=production

VENV=${VENV:-.venv}
PORT=${PORT:-8000}
BIND_ADDRESS=${BIND_ADDRESS:-127.0.0.1}
cores=$(nproc 2>/dev/null || echo 1)
workers=$((2 * cores + 1))
[ "$workers" -le 9 ] || workers=9  # beyond this the database, not Python, is what waits
GUNICORN_WORKERS=${GUNICORN_WORKERS:-$workers}
GUNICORN_TIMEOUT=${GUNICORN_TIMEOUT:-30}
GUNICORN_GRACEFUL_TIMEOUT=${GUNICORN_GRACEFUL_TIMEOUT:-30}

# Every gunicorn worker writes its metrics here; files of an earlier run would be counted again.
PROMETHEUS_MULTIPROC_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hotline-metrics.XXXXXX")
export PROMETHEUS_MULTIPROC_DIR

"$VENV/bin/flask" --app wsgi db upgrade

children=()
stopping=
stop() {
  [ -z "$stopping" ] || return 0
  stopping=1
  kill -TERM "${children[@]}" 2>/dev/null || true
  wait "${children[@]}" 2>/dev/null || true
  rm -rf "$PROMETHEUS_MULTIPROC_DIR"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# One scheduler, started again whenever it exits, until this subshell is sent TERM.
keep_scheduler() {
  local name=$1 child=
  trap '[ -z "$child" ] || kill -TERM "$child" 2>/dev/null; [ -z "$child" ] || wait "$child" 2>/dev/null; exit 0' TERM
  while :; do
    "$VENV/bin/flask" --app wsgi scheduler run --name "$name" &
    child=$!
    status=0
    wait "$child" || status=$?
    child=
    echo "production.sh: scheduler $name exited ($status); starting it again in 5 s" >&2
    sleep 5 &
    wait $! || true  # a TERM meanwhile is handled at once
  done
}

host=$(hostname)
keep_scheduler "$host-scheduler-1" &
children+=($!)
keep_scheduler "$host-scheduler-2" &
children+=($!)
"$VENV/bin/gunicorn" --workers "$GUNICORN_WORKERS" --bind "$BIND_ADDRESS:$PORT" \
  --timeout "$GUNICORN_TIMEOUT" --graceful-timeout "$GUNICORN_GRACEFUL_TIMEOUT" \
  --no-control-socket --logger-class hotline.logs.GunicornLogger wsgi:app &
server=$!
children+=("$server")
echo "production.sh: hotline on http://$BIND_ADDRESS:$PORT/ ($GUNICORN_WORKERS workers, 2 schedulers; Ctrl-C stops)"
status=0
wait "$server" || status=$?
[ -n "$stopping" ] || echo "production.sh: gunicorn exited ($status); stopping the schedulers" >&2
exit $((status == 0 ? 1 : status))
