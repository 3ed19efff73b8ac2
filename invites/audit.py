"""The audit trail: every change to an invitation or a membership leaves a row."""
from __future__ import annotations

import enum

from sqlalchemy import func, select

from .extensions import db
from .models import AuditEvent


class Action(str, enum.Enum):
    """What happened. The values are stored; the labels are shown."""

    CREATE = "invitation.create"
    PAUSE = "invitation.pause"
    START = "invitation.start"
    REVOKE = "invitation.revoke"
    ACCEPT = "invitation.accept"
    ROLE_CHANGE = "member.role_change"
    MEMBER_REMOVE = "member.remove"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Action.CREATE: "created an invitation",
    Action.PAUSE: "paused an invitation",
    Action.START: "started an invitation",
    Action.REVOKE: "revoked an invitation",
    Action.ACCEPT: "joined through an invitation",
    Action.ROLE_CHANGE: "changed a member's role",
    Action.MEMBER_REMOVE: "removed a member",
}


def record(
    action: Action,
    *,
    company_id: int,
    actor_id: int | None,
    invitation_id: int | None = None,
    subject_user_id: int | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add an audit row to the current transaction; the caller commits it with the change."""
    event = AuditEvent(
        action=action.value,
        company_id=company_id,
        actor_id=actor_id,
        invitation_id=invitation_id,
        subject_user_id=subject_user_id,
        detail=detail,
    )
    db.session.add(event)
    return event


def latest_id(company_id: int) -> int:
    """The id of the company's newest audit row (0 if none): a cursor for ``changes_since``."""
    return db.session.scalar(
        select(func.coalesce(func.max(AuditEvent.id), 0)).where(AuditEvent.company_id == company_id)
    )


def changes_since(company_id: int, after: int, limit: int = 200) -> list:
    """The company's audit rows newer than the cursor ``after``, oldest first, in one query.

    Each row has ``id``, ``action``, ``actor_id`` and ``invitation_id``; the last
    id is the next cursor. Rows beyond ``limit`` wait for the next call.
    """
    return list(
        db.session.execute(
            select(AuditEvent.id, AuditEvent.action, AuditEvent.actor_id, AuditEvent.invitation_id)
            .where(AuditEvent.company_id == company_id, AuditEvent.id > after)
            .order_by(AuditEvent.id)
            .limit(limit)
        ).all()
    )
