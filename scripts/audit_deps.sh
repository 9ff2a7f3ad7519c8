#!/usr/bin/env bash
# Known vulnerabilities in the pinned dependencies: requirements.txt and requirements-dev.txt with
# everything they pull in. Fails (exit 1) on any known vulnerability.
#
# pip-audit resolves the requirements and asks a vulnerability service (AUDIT_SERVICE: `pypi` by
# default, or `osv`). Where that service cannot be reached (on these machines PyPI's per-release
# JSON, which the `pypi` service reads, is not served, and OSV is not reachable at all), each
# package pip-audit had to skip is checked against PyPI's project JSON instead: it lists the known
# vulnerabilities of the newest release, so it answers for every pin that is the newest release.
# Pins older than that cannot be checked from here: they are listed, and with AUDIT_REQUIRE_ALL=1
# they fail the audit (exit 2).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/pip-audit ] || .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
report=$(mktemp)

log=$(mktemp)
trap 'rm -f "$report" "$log"' EXIT

# Its own verdict is not the last word (it says "No known vulnerabilities found" of packages it
# skipped), so its exit status and messages matter only when it wrote no report.
status=0
.venv/bin/pip-audit --vulnerability-service "${AUDIT_SERVICE:-pypi}" --progress-spinner off \
  -r requirements.txt -r requirements-dev.txt --format json --output "$report" >"$log" 2>&1 || status=$?
if [ ! -s "$report" ]; then
  cat "$log" >&2
  echo "audit: pip-audit failed (exit $status) before it could report" >&2
  exit 3
fi

.venv/bin/python - "$report" <<'PY'
"""Read pip-audit's report; check what it skipped against PyPI's project JSON; decide."""

import json
import os
import re
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

report = json.load(open(sys.argv[1], encoding="utf-8"))
found: list[str] = []  # "name version: id (fixed in …)"
skipped: list[tuple[str, str]] = []
audited = 0
for dep in report["dependencies"]:
    if "skip_reason" in dep:
        named = re.search(r": (\S+) \(([^()]+)\)$", dep["skip_reason"])
        if named is None:
            sys.exit(f"audit: cannot read pip-audit's skip reason: {dep['skip_reason']}")
        skipped.append((named.group(1), named.group(2)))
        continue
    audited += 1
    for vuln in dep.get("vulns", []):
        found.append(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {', '.join(vuln['fix_versions']) or '?'})")


def newest(package: tuple[str, str]) -> tuple[str, str, str | None, list[dict]]:
    name, version = package
    try:
        with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=60) as answer:
            project = json.load(answer)
    except OSError as exc:
        print(f"audit: PyPI's JSON for {name} could not be read: {exc}", file=sys.stderr)
        return name, version, None, []
    return name, version, project["info"]["version"], project.get("vulnerabilities") or []


unaudited: list[str] = []
with ThreadPoolExecutor(max_workers=4) as pool:
    for name, version, latest, vulns in pool.map(newest, skipped):
        if latest != version:
            unaudited.append(f"{name} {version} (newest {latest or 'unknown'})")
            continue
        audited += 1
        for vuln in vulns:
            if not vuln.get("withdrawn"):
                found.append(f"{name} {version}: {vuln['id']} (fixed in {', '.join(vuln.get('fixed_in') or []) or '?'})")

total = len(report["dependencies"])
print(f"audit: {audited} of {total} packages checked, {len(found)} known vulnerabilities")
for line in found:
    print(f"  VULNERABLE {line}")
if unaudited:
    print(f"audit: {len(unaudited)} pins are older than their newest release and no vulnerability source for"
          " older releases is reachable from here; not checked:")
    for line in unaudited:
        print(f"  unchecked {line}")
if found:
    sys.exit(1)
if unaudited and os.environ.get("AUDIT_REQUIRE_ALL") == "1":
    sys.exit(2)
PY
