#!/usr/bin/env bash
# Re-extract every translatable string and merge it into the catalogues; then translate the new
# entries in translations/*/LC_MESSAGES/messages.po (tests fail while any is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
"$PYBABEL" extract -F babel.cfg -k N_ -k _ -k _l -k gettext -k lazy_gettext --no-location --sort-output \
  --project hotline -o translations/messages.pot .
"$PYBABEL" update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete
