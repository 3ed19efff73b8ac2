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
    #: What the list is searched for, when it is (the dashboard's ``q``).
    search: str = ""

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def page_bounds(page: int, per_page: int) -> dict[str, int]:
    """``limit`` and ``offset`` of page ``page``, for a prebuilt statement: one row more than shown."""
    return {"limit": per_page + 1, "offset": (page - 1) * per_page}


def page_from(rows: list[T], page: int, per_page: int, **extra: Any) -> Page[T]:
    """The page that rows fetched with ``page_bounds`` make: a row past ``per_page`` says a next page exists."""
    return Page(items=rows[:per_page], page=page, has_next=len(rows) > per_page, **extra)


def fetch_page(query: Select, page: int, per_page: int, **extra: Any) -> Page:
    """Run ``query`` (already ordered) for one page (``LIMIT per_page + 1``)."""
    bounds = page_bounds(page, per_page)
    rows = list(db.session.execute(query.limit(bounds["limit"]).offset(bounds["offset"])).scalars())
    return page_from(rows, page, per_page, **extra)
