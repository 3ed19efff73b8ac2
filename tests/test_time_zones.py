"""Timestamps leave the database in UTC, whatever time zone the PostgreSQL session runs in."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from invites import invitations
from invites.extensions import db
from invites.models import Invitation, Membership

from .conftest import PASSWORD, Factory, fresh_app

# Late in the evening, UTC: in UTC+2 it is already the next day.
EXPIRES = datetime(2031, 1, 27, 23, 30, tzinfo=timezone.utc)
JOINED = datetime(2025, 1, 27, 23, 30, tzinfo=timezone.utc)


@pytest.fixture
def app_in_utc_plus_2(database_url):
    """An app whose every PostgreSQL connection runs with the session time zone UTC+2."""
    # POSIX-style names count the other way: Etc/GMT-2 is two hours ahead of UTC.
    options = {"connect_args": {"options": "-c TimeZone=Etc/GMT-2"}}
    with fresh_app(database_url, SQLALCHEMY_ENGINE_OPTIONS=options) as app:
        yield app


@pytest.mark.postgresql
def test_card_invite_page_and_members_page_agree_on_the_utc_day(app_in_utc_plus_2):
    app = app_in_utc_plus_2
    make = Factory(app)
    company, owner = make.company("Acme", owner_email="boss@example.com")
    with app.app_context():
        assert db.session.scalar(sa.text("SHOW TimeZone")) == "Etc/GMT-2"
        invitation = invitations.create(company.id, owner, invitations.parse_new_invitation(None, 5, 7))
        code, invitation_id = invitation.code, invitation.id
        db.session.execute(sa.update(Invitation).where(Invitation.id == invitation_id).values(expires_at=EXPIRES))
        db.session.execute(sa.update(Membership).where(Membership.user_id == owner.id).values(created_at=JOINED))
        db.session.commit()
        stored = db.session.get(Invitation, invitation_id).expires_at
        assert (stored, stored.utcoffset()) == (EXPIRES, EXPIRES.utcoffset())

    client = app.test_client()
    client.post("/login", data={"email": "boss@example.com", "password": PASSWORD})
    dashboard = client.get("/dashboard/company").get_data(as_text=True)
    card = dashboard[dashboard.index(f'id="invitation-{invitation_id}"') :]
    card = card[: card.index("</article>")]
    assert "Jan 27, 2031" in card and "Jan 28, 2031" not in card
    assert re.search(r'<time datetime="2031-01-27T23:30:00\+00:00">', card)

    invite_page = app.test_client().get(f"/invite/{code}").get_data(as_text=True)  # as a visitor
    assert "Jan 27, 2031 at 23:30 UTC" in invite_page

    members = client.get("/company/members").get_data(as_text=True)
    assert "Jan 27, 2025" in members and "Jan 28, 2025" not in members
