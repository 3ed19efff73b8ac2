"""Invitations in a given state, and snapshots of what the database holds about them."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import sqlalchemy as sa

from invites import invitations
from invites.extensions import db
from invites.models import AuditEvent, Invitation, Membership, Redemption, utcnow


def new_invitation(app, company, creator, *, email=None, max_uses=1, days=7,
                   revoked=False, expired=False, full=False, paused=False, raw_email=None) -> str:
    """Create an invitation through the domain layer, then put it in the given state; its code.

    ``raw_email`` stores a target email exactly as given (legacy rows were not normalised).
    """
    with app.app_context():
        invitation = invitations.create(
            company.id, creator, invitations.parse_new_invitation(email, max_uses, days)
        )
        values = {}
        if revoked:
            values["revoked_at"] = utcnow()
        if expired:
            created = utcnow() - timedelta(days=days + 1)
            values.update(created_at=created, expires_at=created + timedelta(days=days))
        if full:
            values.update(used_count=max_uses, status="ACCEPTED")
        if paused:
            values["is_active"] = False
        if raw_email is not None:
            values["email"] = raw_email
        if values:
            db.session.execute(sa.update(Invitation).where(Invitation.id == invitation.id).values(**values))
            db.session.commit()
        return invitation.code


def invitation_row(app, code) -> dict:
    """The stored columns of one invitation."""
    with app.app_context():
        row = db.session.execute(sa.select(Invitation).where(Invitation.code == code)).scalar_one()
        return {c.name: getattr(row, c.key) for c in Invitation.__table__.columns}


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
