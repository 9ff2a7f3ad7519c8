"""The baseline for bench.voice_latency: a trivial Flask endpoint, served by gunicorn the same way.

    gunicorn --workers 4 --worker-class sync bench.trivial_app:app

POST /voice answers a tiny constant TwiML document without reading the form, checking a
signature or touching a database: what Flask and gunicorn cost by themselves. GET /healthz
answers as the hotline's does, so the benchmark waits for both servers the same way.
"""

from __future__ import annotations

from flask import Flask, Response

TWIML = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>ok</Say></Response>"

app = Flask(__name__)


@app.post("/voice")
def voice() -> Response:
    return Response(TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> tuple[str, int, dict[str, str]]:
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
