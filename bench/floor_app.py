"""The stateful floor for bench.voice_latency: the least a voice webhook that keeps its call in a row can do.

    DATABASE_URL=... TWILIO_AUTH_TOKEN=... gunicorn --workers 4 --worker-class sync bench.floor_app:app

POST /voice checks X-Twilio-Signature (twilio.request_validator, over the URL requested and the
form), then sends two SQL statements in one transaction on the hotline's own `calls` table, with
the engine made by database.engine.make_engine (the hotline's pool and settings): an upsert of the
call's row that takes its lock (INSERT ... ON CONFLICT (sid) DO UPDATE ... RETURNING step), then an
UPDATE storing the next step, a small context and the answer, as the hotline stores a turn; and
answers a <Gather> holding one <Say> as long as a hotline menu, rendered by twilio's VoiceResponse.
Nothing else: no flow, no catalogue, no ORM. The hotline is compared with this floor; GET
/healthz answers as the hotline's does. Works on PostgreSQL and SQLite (both have ON CONFLICT and
RETURNING).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from flask import Flask, Response, abort, request
from sqlalchemy import DateTime, bindparam, text
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from database.engine import make_engine

# As long as the hotline's main menu in Vietnamese (~250 characters), so both answers weigh the same.
SAY = ("Xin quý vị cho biết quý vị cần gì. Để đặt lịch hẹn, bấm phím 1. Để kiểm tra, đổi hoặc hủy lịch hẹn, "
       "bấm phím 2. Để nghe địa chỉ và giờ làm việc của các bộ phận một cửa, bấm phím 3. Để gặp tổng đài viên, "
       "bấm phím 0.")

UPSERT = text("INSERT INTO calls (sid, caller, language, state, retries, context, step, last_response, status, "
              "started_at, updated_at) VALUES (:sid, :caller, 'vi', 'start', 0, '{}', 0, '', 'active', :now, :now) "
              "ON CONFLICT (sid) DO UPDATE SET updated_at = excluded.updated_at RETURNING step"
              ).bindparams(bindparam("now", type_=DateTime()))
UPDATE = text("UPDATE calls SET step = :step, state = 'menu', retries = 0, context = :context, "
              "last_token = :token, last_response = :xml, updated_at = :now WHERE sid = :sid"
              ).bindparams(bindparam("now", type_=DateTime()))

app = Flask(__name__)
engine = make_engine(os.environ["DATABASE_URL"])
validator = RequestValidator(os.environ.get("TWILIO_AUTH_TOKEN", ""))


@app.post("/voice")
def voice() -> Response:
    form = request.form
    if not validator.validate(request.url, form.to_dict(flat=True), request.headers.get("X-Twilio-Signature", "")):
        abort(403)
    sid = form.get("CallSid", "")
    if not sid:
        abort(400)
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        step = conn.execute(UPSERT, {"sid": sid, "caller": form.get("From", "")[:40], "now": now}).scalar_one() + 1
        response = VoiceResponse()
        gather = response.gather(input="dtmf", num_digits=1, timeout=6, action=f"/voice?step={step}", method="POST")
        gather.say(SAY, language="vi-VN")
        response.redirect(f"/voice?step={step}&silence=1", method="POST")
        xml = str(response)
        conn.execute(UPDATE, {"sid": sid, "step": step, "context": json.dumps({"digits": form.get("Digits", "")}),
                              "token": request.headers.get("I-Twilio-Idempotency-Token"), "xml": xml, "now": now})
    return Response(xml, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> tuple[str, int, dict[str, str]]:
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
