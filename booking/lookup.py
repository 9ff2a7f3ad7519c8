"""Loading one row by its key, or the domain's NotFound."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from booking.errors import NotFound

T = TypeVar("T")


def get_or_not_found(session: Session, model: type[T], key: Any, **options: Any) -> T:
    """The row with this primary key; `booking.errors.NotFound` (a 404 at every edge) when there is none."""
    row = session.get(model, key, **options)
    if row is None:
        raise NotFound()
    return row
