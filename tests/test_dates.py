"""Dates on every page at the edges of a month and of a day, with both clocks frozen.

Each case stops the clock at a moment (the 1st, 9th, 10th and 31st of a month; 23:59 UTC)
and creates, uses and views an invitation there. The expected text is written out by hand,
so these hold whatever day the suite runs on, and fail if a page writes a date another way.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from invites.extensions import db
from invites.models import Invitation

from .clock import frozen_at

UTC = timezone.utc

# (frozen at, days to expiry, the card's expiry, the invite page's expiry, today as a day, now as a moment)
CASES = [
    (
        datetime(2027, 3, 1, 0, 0, tzinfo=UTC),
        1,
        "Mar 2, 2027",
        "Mar 2, 2027 at 00:00 UTC",
        "Mar 1, 2027",
        "Mar 1, 2027 at 00:00 UTC",
    ),
    (
        datetime(2027, 1, 9, 8, 30, tzinfo=UTC),
        1,
        "Jan 10, 2027",
        "Jan 10, 2027 at 08:30 UTC",
        "Jan 9, 2027",
        "Jan 9, 2027 at 08:30 UTC",
    ),
    (
        datetime(2027, 1, 10, 12, 0, tzinfo=UTC),
        30,
        "Feb 9, 2027",
        "Feb 9, 2027 at 12:00 UTC",
        "Jan 10, 2027",
        "Jan 10, 2027 at 12:00 UTC",
    ),
    (
        datetime(2027, 1, 31, 23, 59, tzinfo=UTC),
        1,
        "Feb 1, 2027",
        "Feb 1, 2027 at 23:59 UTC",
        "Jan 31, 2027",
        "Jan 31, 2027 at 23:59 UTC",
    ),
    (
        datetime(2028, 2, 28, 23, 59, tzinfo=UTC),
        1,
        "Feb 29, 2028",
        "Feb 29, 2028 at 23:59 UTC",
        "Feb 28, 2028",
        "Feb 28, 2028 at 23:59 UTC",
    ),
    (
        datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
        9,
        "Jan 9, 2027",
        "Jan 9, 2027 at 23:59 UTC",
        "Dec 31, 2026",
        "Dec 31, 2026 at 23:59 UTC",
    ),
]


def time_tag(value: datetime, shown: str) -> str:
    return f'<time datetime="{value.isoformat()}">{shown}</time>'


def only_invitation(app) -> Invitation:
    with app.app_context():
        invitation = db.session.execute(sa.select(Invitation)).scalar_one()
        db.session.expunge(invitation)
        return invitation


@pytest.mark.parametrize(
    "moment, days, card_expiry, page_expiry, today, now", CASES, ids=[c[0].strftime("%Y-%m-%dT%H:%M") for c in CASES]
)
def test_every_page_writes_the_date_of_the_frozen_moment(
    client, app, make, auth, moment, days, card_expiry, page_expiry, today, now
):
    with frozen_at(moment):
        company, owner = make.company("Acme")
        guest = make.user("guest@example.com")
        auth.login(owner.email)
        response = client.post(
            "/dashboard/company/invitations", data={"email": "", "max_uses": "2", "expires_in_days": str(days)}
        )
        assert response.status_code == 302
        invitation = only_invitation(app)
        dashboard = client.get("/dashboard/company").get_data(as_text=True)
        auth.logout()
        invite_page = client.get(f"/invite/{invitation.code}").get_data(as_text=True)
        auth.login(guest.email)
        assert client.post(f"/invite/{invitation.code}/accept").status_code == 302
        auth.logout()
        auth.login(owner.email)
        members = client.get("/company/members").get_data(as_text=True)
        activity = client.get("/company/activity").get_data(as_text=True)
        who_used_it = client.get(f"/dashboard/company/invitations/{invitation.id}/redemptions").get_data(as_text=True)
    assert f">{card_expiry}</time>" in dashboard
    assert f">{page_expiry}</time>" in invite_page
    assert time_tag(moment, today) in members
    assert time_tag(moment, now) in activity
    assert time_tag(moment, now) in who_used_it
