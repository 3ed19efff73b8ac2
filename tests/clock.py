"""The suite's clock: today by default, or a chosen moment with ``INVITES_TEST_NOW``.

``INVITES_TEST_NOW=2027-01-31T23:59:00Z make test`` runs the whole suite as if it were
that moment. Python's clock travels there with time-machine (and keeps ticking), and the
database's clock (``invitations.db_now``, which the accept and the state changes are judged
by) is moved by the same offset, so the two agree as they do in production. Processes the
suite starts with ``subprocess`` (gunicorn) keep the real clock; forked ones travel too.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import time_machine
from sqlalchemy.ext.compiler import compiles

from invites.invitations import db_now

VARIABLE = "INVITES_TEST_NOW"


def chosen_now() -> datetime | None:
    """The moment ``INVITES_TEST_NOW`` names, in UTC, or None when it is unset or empty."""
    raw = os.environ.get(VARIABLE, "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"{VARIABLE}={raw!r} is not an ISO 8601 moment, e.g. 2027-01-31T23:59:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


_database_offset = timedelta(0)


def shift_database_clock(offset: timedelta) -> None:
    """Make ``db_now()`` read the database's clock plus ``offset`` on both backends.

    Compiled statements are cached per engine, and every test app has an engine of its
    own, so a shift made before a test's first query holds for all of that test.
    """
    global _database_offset
    _database_offset = offset
    seconds = f"{offset.total_seconds():+.6f}"

    @compiles(db_now, "sqlite")
    def _sqlite(element, compiler, **kw):
        return f"strftime('%Y-%m-%d %H:%M:%f', 'now', '{seconds} seconds')"

    @compiles(db_now, "postgresql")
    def _postgresql(element, compiler, **kw):
        return f"(clock_timestamp() + interval '{seconds} seconds')"


@contextmanager
def frozen_at(moment: datetime):
    """Stop both clocks at ``moment`` (the database's keeps its sub-second drift) for a block."""
    before = _database_offset
    real_now = datetime.now(timezone.utc) - before  # what the database's own clock reads
    shift_database_clock(moment - real_now)
    try:
        with time_machine.travel(moment, tick=False):
            yield moment
    finally:
        shift_database_clock(before)
