"""Invitations in a given state, and snapshots of what the database holds about them."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa

from invites.extensions import db
from invites.models import AuditEvent, Membership, Redemption

from .api_helpers import api_login
from .conftest import PASSWORD
from .factories import create_invitation, invitation_row


def new_invitation(app, company, creator, **state) -> str:
    """The code of a new invitation in the given state (see ``factories.create_invitation``)."""
    return create_invitation(app, company, creator, **state).code


def snapshot(app, code) -> dict:
    """Everything accepting could change: the invitation's row and the rows that go with a use."""
    with app.app_context():
        count = lambda model: db.session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
        return {
            "invitation": invitation_row(app, code),
            "redemptions": count(Redemption),
            "memberships": count(Membership),
            "audit_events": count(AuditEvent),
        }


def used_count(app, code) -> int:
    return invitation_row(app, code)["used_count"]


def status(app, code) -> str:
    return invitation_row(app, code)["status"]


def alert(page: str) -> str | None:
    """The refusal message the invite page shows, if any."""
    match = re.search(r'role="alert">([^<]*)</p>', page)
    return html.unescape(match.group(1).strip()) if match else None


def signed_in(app, email: str):
    """A browser of its own, signed in through the login page."""
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def api_client(app, email: str):
    """An API client of its own, signed in through the API."""
    client = app.test_client()
    api_login(client, email)
    return client
