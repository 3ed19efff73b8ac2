"""One page of a list, newest first: the ``LIMIT n+1`` query every paged list uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select

from .extensions import db

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """The rows of page ``page`` (from 1), and whether another page follows."""

    items: list[T]
    page: int
    has_next: bool
    #: What the list is filtered by, when it is (the dashboard's ``Filter``).
    filter: Any = None

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def fetch_page(query: Select, page: int, per_page: int, **extra: Any) -> Page:
    """Run ``query`` (already ordered) for one page: one row more than shown says a next page exists."""
    rows = list(db.session.execute(query.limit(per_page + 1).offset((page - 1) * per_page)).scalars())
    return Page(items=rows[:per_page], page=page, has_next=len(rows) > per_page, **extra)
