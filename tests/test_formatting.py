"""Dates are written one way on every page, as seed 003 shows them."""

from datetime import datetime, timedelta, timezone

from invites.formatting import day, moment, people


def test_day_has_no_leading_zero():
    assert day(datetime(2025, 1, 7, 23, 59, tzinfo=timezone.utc)) == "Jan 7, 2025"
    assert day(datetime(2025, 1, 27, tzinfo=timezone.utc)) == "Jan 27, 2025"


def test_moment_is_shown_in_utc():
    two_hours_east = timezone(timedelta(hours=2))
    assert moment(datetime(2025, 1, 8, 1, 5, tzinfo=two_hours_east)) == "Jan 7, 2025 at 23:05 UTC"


def test_people_are_counted_in_words():
    assert [people(n) for n in (0, 1, 2)] == ["0 people", "1 person", "2 people"]
