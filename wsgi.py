"""The WSGI entry point: `gunicorn wsgi:app`, and `flask --app wsgi …` for the commands."""

from hotline import create_app

app = create_app()
