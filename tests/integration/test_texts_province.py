"""Every confirmation and reminder over the demo province fits two segments, and still says what to bring.

Cà Mau's 65 centres × the demo procedures each takes (and none named), in Vietnamese and English,
through the notices' own text functions and the default policy; on both engines, as the demo loads.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from actions.demo import load_demo
from notifications import texts
from notifications.policy import SmsPolicy
from notifications.sms import size_of
from tests.catalogue import CatalogueLocalizer, visits
from tests.factories import NOW


@pytest.mark.parametrize("language", ["vi", "en"])
def test_every_confirmation_and_reminder_of_the_demo_fits_two_segments_and_says_what_to_bring(
        db: Session, language: str) -> None:
    load_demo(db, now=NOW)
    db.flush()
    loc, policy = CatalogueLocalizer(language), SmsPolicy()
    written = 0
    for visit in visits(db, language):
        brought = texts.documents(visit.documents, loc)
        for text in (texts.confirmation(visit, hotline=policy.hotline, loc=loc, fits=policy.fits),
                     texts.reminder(visit, hotline=policy.hotline, loc=loc, fits=policy.fits)):
            assert size_of(policy.text(text)).segments <= 2, text
            assert visit.code in text and visit.queue in text and visit.office in text, text
            assert any(option in text for option in brought), text  # never without what to bring
            assert text.endswith(loc.gettext(texts.HELP, hotline="1022")), text
            written += 1
    assert written > 2 * 65  # every office, each with more than one procedure
