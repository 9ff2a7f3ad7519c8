#!/usr/bin/env bash
# Fuzz the booking API from its own OpenAPI document with schemathesis: a server on a scratch
# SQLite database with the demo offices, an admin token, and every operation exercised.
# Fails on any 500, any response that breaks the document, and any request the document allows
# that the API refuses (but for the booking rules listed in scripts/api_check.toml, which
# scripts/api_check_hooks.py keeps apart from input errors).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
export HOTLINE_INSTANCE_PATH=$work HOTLINE_ENV=development
.venv/bin/flask --app wsgi db upgrade >/dev/null
.venv/bin/flask --app wsgi demo load >/dev/null
token=$(.venv/bin/flask --app wsgi tokens create schemathesis --role admin)
port=$((20000 + RANDOM % 20000))
.venv/bin/gunicorn --workers 2 --bind "127.0.0.1:$port" wsgi:app >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
SCHEMATHESIS_HOOKS=scripts/api_check_hooks.py .venv/bin/schemathesis --config-file scripts/api_check.toml \
  run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance,positive_data_acceptance,input_errors_match_document \
  --phases examples,fuzzing,stateful --max-time "${API_CHECK_SECONDS:-120}" --workers 2 --request-timeout 10 --report-dir "$work/report" \
  || { tail -50 "$work/server.log"; exit 1; }
