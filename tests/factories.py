"""Test data factories and row counts: the one copy every test module imports.

``make`` (``conftest.Factory``) creates users and companies; these create invitations in
a given state and read back what the database holds.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from invites import invitations
from invites.extensions import db
from invites.models import Invitation, utcnow


def count(app, model, *where) -> int:
    """How many rows of ``model`` (matching ``where``) the database holds."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def create_invitation(
    app,
    company,
    creator,
    *,
    email=None,
    max_uses=1,
    days=7,
    revoked=False,
    expired=False,
    full=False,
    paused=False,
    raw_email=None,
    role=None,
    allowed_domain=None,
    label=None,
) -> Invitation:
    """An invitation made through the domain layer, then put in the given state; detached.

    ``raw_email`` stores a target email exactly as given (legacy rows were not normalised).
    ``role``, ``allowed_domain`` and ``label`` go through the domain's checks (ADMIN needs
    an OWNER as ``creator``).
    """
    with app.app_context():
        invitation = invitations.create(
            company.id,
            db.session.merge(creator),
            invitations.parse_new_invitation(
                email, max_uses, days, role=role, allowed_domain=allowed_domain, label=label
            ),
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
        db.session.refresh(invitation)
        db.session.expunge(invitation)
        return invitation


def invitation_row(app, code) -> dict:
    """The stored columns of one invitation."""
    with app.app_context():
        row = db.session.execute(sa.select(Invitation).where(Invitation.code == code)).scalar_one()
        return {c.name: getattr(row, c.key) for c in Invitation.__table__.columns}
