"""The WSGI entry point: `gunicorn wsgi:app`, and `flask --app wsgi …` for the commands."""

import sys

from config import SettingsError
from hotline import create_app

try:
    app = create_app()
except SettingsError as exc:
    # A mistake in the environment is said in one line naming the variable, not a traceback, by
    # every process alike (gunicorn's workers, the scheduler, each command). Status 4 is
    # gunicorn's "App failed to load": it stops, where any other status would have it start
    # worker after worker.
    print(f"hotline: {exc}", file=sys.stderr)
    sys.exit(4)
