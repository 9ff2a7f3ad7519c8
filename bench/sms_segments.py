"""What each kind of SMS costs over the demo province: characters and segments, in both languages.

Every demo office (Cà Mau's 65 centres) × every demo procedure it takes (and none named), through
the real text functions (`notifications.texts`, as the notices and reminders call them) and the
default policy (no brandname, diacritics kept). Prints, for each kind and language, how many texts
were written, the fewest and most characters (UTF-16 units, as UCS-2 counts them) and segments, and
for confirmations and reminders which optional parts `fit` had to leave out to stay within two.

    .venv/bin/python -m bench.sms_segments [--brandname "UBND CA MAU"] [--hotline "0290 1022"]

Nothing is sent and no server is needed: the demo is loaded into a scratch SQLite file. Writes
`bench/results/sms_segments.json`.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

import accounts.models  # noqa: F401  (every table, for the migrations' models)
import actions.models  # noqa: F401
import hotline.ivr.models  # noqa: F401
from actions.demo import load_demo
from bench._common import write_result
from booking.models import Office, Procedure
from database.engine import make_engine
from database.schema import upgrade
from notifications import texts
from notifications.policy import SmsPolicy
from notifications.sms import size_of
from tests.catalogue import THURSDAY, CatalogueLocalizer, visits

VN = ZoneInfo("Asia/Ho_Chi_Minh")
REASONS = {"vi": "mất điện", "en": "power cut"}  # a manager's reason for a closure


@dataclass
class Tally:
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (characters, segments)
    left_out: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, text: str) -> None:
        size = size_of(text)
        self.sizes.append((size.units, size.segments))


def _left_out(visit: texts.Visit, text: str, loc: CatalogueLocalizer) -> list[str]:
    """Which optional parts `fit` shortened or left out of `text`."""
    out = []
    said = texts.documents(visit.documents, loc)  # the wordings of what to bring, fullest first
    if not any(option in text for option in said):
        out.append("what to bring")
    elif visit.documents and said[0] not in text:
        out.append("the procedure's documents, the default said instead" if said[-1] in text
                   else "the procedure's last documents, 'etc.' said instead")
    if visit.result_day is not None and loc.day(visit.result_day) not in text:
        out.append("result date")
    if visit.online_url and texts.portal(visit.online_url) not in text:
        out.append("portal")
    return out


def measure(session: Session, policy: SmsPolicy) -> dict[tuple[str, str], Tally]:
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    for language in ("vi", "en"):
        loc = CatalogueLocalizer(language)
        hotline = policy.hotline
        for visit in visits(session, language):
            for kind, write in (("confirmation", texts.confirmation), ("reminder", texts.reminder)):
                text = policy.text(write(visit, hotline=hotline, loc=loc, fits=policy.fits))
                tally = tallies[(kind, language)]
                tally.add(text)
                for part in _left_out(visit, text, loc):
                    if not (kind == "reminder" and part == "portal"):  # reminders never carry it
                        tally.left_out[part] += 1
            tallies[("cancellation", language)].add(policy.text(texts.cancellation(
                code=visit.code, office=visit.office, day=visit.day, session_code="S", hotline=hotline, loc=loc)))
            tallies[("move", language)].add(policy.text(texts.move(
                visit, was=visit.day - timedelta(days=1), was_session="C", reason="", hotline=hotline, loc=loc)))
            tallies[("closure move", language)].add(policy.text(texts.closure_move(
                visit, was=visit.day - timedelta(days=1), was_session="C", reason=REASONS[language],
                hotline=hotline, loc=loc)))
            tallies[("closure cancellation", language)].add(policy.text(texts.closure_cancellation(
                code=visit.code, office=visit.office, day=visit.day, session_code="C", reason=REASONS[language],
                hotline=hotline, loc=loc)))
        for office in session.scalars(select(Office).where(Office.active.is_(True))):
            name = texts.office_name(office, language)
            for end in (THURSDAY, THURSDAY + timedelta(days=2)):
                tallies[("closure notice", language)].add(policy.text(texts.closure(
                    office=name, start=THURSDAY, end=end, reason=REASONS[language], hotline=hotline, loc=loc)))
        for by in (datetime.combine(THURSDAY, time(17), VN), datetime.combine(THURSDAY + timedelta(days=1),
                                                                               time(17), VN)):
            tallies[("call-back ack", language)].add(policy.text(texts.callback_ack(by=by, today=THURSDAY,
                                                                                    loc=loc)))
    return tallies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brandname", default="", help="SMS_BRANDNAME to put before every text (none)")
    parser.add_argument("--hotline", default="1022", help="HOTLINE_NUMBER (1022)")
    args = parser.parse_args()
    policy = SmsPolicy(brandname=args.brandname, hotline=args.hotline)
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'demo.sqlite3'}")
        upgrade(engine)
        with Session(engine) as session:
            load_demo(session, now=datetime(2027, 3, 1, 2, 0, tzinfo=ZoneInfo("UTC")))
            offices = len(session.scalars(select(Office.id)).all())
            procedures = session.scalars(select(Procedure)).all()
            with_documents = sum(1 for p in procedures if p.documents_short)
            tallies = measure(session, policy)
        engine.dispose()
    print(f"{offices} offices, {len(procedures)} procedures ({with_documents} with a short list of documents); "
          f"brandname {args.brandname or 'none'}, hotline {args.hotline}, diacritics kept")
    print(f"{'kind':<22}{'lang':<6}{'texts':>6}{'chars min':>11}{'max':>6}{'segments min':>14}{'max':>5}"
          f"{'over 2':>8}")
    kinds: list[dict[str, object]] = []
    result = {"offices": offices, "procedures": len(procedures), "brandname": args.brandname, "hotline": args.hotline,
              "kinds": kinds}
    for (kind, language), tally in tallies.items():
        chars = [c for c, _ in tally.sizes]
        parts = [s for _, s in tally.sizes]
        kinds.append({
            "kind": kind, "language": language, "texts": len(tally.sizes), "chars": [min(chars), max(chars)],
            "segments": [min(parts), max(parts)], "over_2": sum(1 for s in parts if s > 2),
            "left_out": dict(tally.left_out)})
        print(f"{kind:<22}{language:<6}{len(tally.sizes):>6}{min(chars):>11}{max(chars):>6}{min(parts):>14}"
              f"{max(parts):>5}{sum(1 for s in parts if s > 2):>8}")
        for part, count in sorted(tally.left_out.items()):
            print(f"{'':<28}left out to fit: {part} in {count}")
    print(f"written to {write_result('sms_segments', result)}")


if __name__ == "__main__":
    main()
