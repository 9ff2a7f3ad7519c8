"""The active offices as the hotline says them, kept by each process until the offices change.

Nearly every step of a call needs the list (the menu's hints, the office chosen, its name said
back): reading 65 offices into the ORM each time cost more than the rest of the step. A process
keeps the list instead, and each request that needs it first asks the database one cheap
question, in its own transaction: `SELECT count(*), sum(version) FROM offices`. Every write of an
office row, by whatever path (the console, an import, SQL by hand), gives it a version larger
than any the table holds (migration 0015), so the pair changes whenever a committed write
changed the offices; the list is read again then, and only then. The hotline's webhooks read that
pair in the RETURNING of the call's upsert, the first statement of their transaction, so a step
that needs the offices and finds them unchanged asks nothing more.

Correctness: the key is read before the rows, so under READ COMMITTED a change committed between
the two reads makes the list newer than its key, and the next request reads it again; the list
is never older than the key it is kept under. An office closed (active = false) or renamed by a
manager is therefore not offered by any request that starts after the change commits, in any
process. One list is kept per engine (each app, and each test's database, has its own).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from booking.models import Office, OfficeLevel

# The key, as columns a caller may read in a statement of its own (the call's upsert RETURNING them); VERSION reads
# them alone. Read first in the transaction, before anything derived from the offices.
OFFICES_KEY = ((func.count(Office.id), "offices_count"), (func.coalesce(func.sum(Office.version), 0), "offices_version"))
VERSION = select(*(column for column, _ in OFFICES_KEY))
ROWS = (select(Office.id, Office.level, Office.name, Office.name_en, Office.spoken_name)
        .where(Office.active.is_(True)).order_by(Office.id))


@dataclass(frozen=True)
class SpokenOffice:
    """What the IVR needs of an active office: it names it, and never changes it."""

    id: int
    level: OfficeLevel
    name: str
    name_en: str | None
    spoken_name: str


class Directory:
    """The active offices of one database, in the order `order` gives, kept until the offices change."""

    def __init__(self, order: Callable[[SpokenOffice], Any]) -> None:
        self._order = order
        self._kept: tuple[tuple[Any, ...], tuple[SpokenOffice, ...]] | None = None

    def offices(self, db: Session, key: tuple[Any, ...] | None = None) -> tuple[SpokenOffice, ...]:
        """The list, read again unless `key` (read by this transaction before anything else; else now) is its own."""
        if key is None:
            key = tuple(db.execute(VERSION).one())
        kept = self._kept  # one read: another thread may replace it meanwhile (gthread workers)
        if kept is not None and kept[0] == key:
            return kept[1]
        offices = tuple(sorted((SpokenOffice(*row) for row in db.execute(ROWS)), key=self._order))
        self._kept = (key, offices)
        return offices


_directories: weakref.WeakKeyDictionary[Engine, Directory] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def directory(engine: Engine, order: Callable[[SpokenOffice], Any]) -> Directory:
    """This process's directory of the database behind `engine`."""
    with _lock:
        found = _directories.get(engine)
        if found is None:
            found = _directories[engine] = Directory(order)
        return found
