"""The audit trail: every change to an invitation or a membership leaves a row."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, func, insert, or_, select
from sqlalchemy.orm import joinedload

from .extensions import db
from .masking import short_code
from .models import AuditEvent, Invitation, utcnow
from .paging import Page, fetch_page


class Action(str, enum.Enum):
    """What happened. The values are stored; the labels are shown."""

    CREATE = "invitation.create"
    PAUSE = "invitation.pause"
    START = "invitation.start"
    REVOKE = "invitation.revoke"
    ACCEPT = "invitation.accept"
    EMAIL_RESEND = "invitation.email_resend"
    EDIT = "invitation.edit"
    PAUSE_ALL = "invitation.pause_all"
    RESUME_ALL = "invitation.resume_all"
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
    Action.EMAIL_RESEND: "sent an invitation's email again",
    Action.EDIT: "edited an invitation",
    Action.PAUSE_ALL: "paused every invitation",
    Action.RESUME_ALL: "resumed every invitation",
    Action.ROLE_CHANGE: "changed a member's role",
    Action.MEMBER_REMOVE: "removed a member",
}


def record(
    action: Action,
    *,
    company_id: int,
    actor_id: int | None,
    invitation: Invitation | None = None,
    subject_user_id: int | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add an audit row to the current transaction; the caller commits it with the change.

    An invitation is recorded by id and by its code's short form, which stays
    on the row if the invitation is ever deleted.
    """
    event = AuditEvent(
        action=action.value,
        company_id=company_id,
        actor_id=actor_id,
        invitation_id=invitation.id if invitation is not None else None,
        invitation_short_code=short_code(invitation.code) if invitation is not None else None,
        subject_user_id=subject_user_id,
        detail=detail,
    )
    db.session.add(event)
    return event


def insert_now(
    action: Action,
    *,
    company_id: int,
    actor_id: int | None,
    invitation_id: int | None = None,
    invitation_short_code: str | None = None,
    subject_user_id: int | None = None,
    detail: str | None = None,
    at: datetime | None = None,
) -> None:
    """``record``'s row, written at once by one Core INSERT in the current transaction.

    For the hot paths (pause, start, revoke): no ORM object, no flush; the
    caller still commits it with the change.
    """
    db.session.connection().execute(
        _INSERT_EVENT,
        {
            "action": action.value,
            "company_id": company_id,
            "actor_id": actor_id,
            "invitation_id": invitation_id,
            "invitation_short_code": invitation_short_code,
            "subject_user_id": subject_user_id,
            "detail": detail,
            "created_at": at or utcnow(),
        },
    )


_INSERT_EVENT = insert(AuditEvent.__table__)


def action_label(action: str) -> str:
    """What a stored action value means, for people ("paused an invitation")."""
    try:
        return Action(action).label
    except ValueError:
        return action


EVENTS_PER_PAGE = 50


def _events_query():
    """Events with who did it and to whom, loaded in the same query (the invitation's short code is on the row)."""
    return select(AuditEvent).options(
        joinedload(AuditEvent.actor),
        joinedload(AuditEvent.subject_user),
    )


def company_events(company_id: int, page: int = 1, per_page: int = EVENTS_PER_PAGE) -> Page[AuditEvent]:
    """A page of everything that happened in a company, newest first."""
    query = (
        _events_query()
        .where(AuditEvent.company_id == company_id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    )
    return fetch_page(query, page, per_page)


def invitation_events(invitation_id: int, limit: int = EVENTS_PER_PAGE) -> list[AuditEvent]:
    """What happened to one invitation (created, paused, started, accepted, revoked), newest first."""
    return list(
        db.session.execute(
            _events_query()
            .where(AuditEvent.invitation_id == invitation_id)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        ).scalars()
    )


_LATEST_ID = select(func.coalesce(func.max(AuditEvent.id), 0)).where(AuditEvent.company_id == bindparam("company_id"))


def latest_id(company_id: int) -> int:
    """The id of the company's newest audit row (0 if none): a cursor for ``changes_since``."""
    return db.session.scalar(_LATEST_ID, {"company_id": company_id})


# Ids come from a sequence, and on PostgreSQL concurrent transactions commit out of
# id order: a row with a lower id can become visible after a poll has moved the
# cursor past it. Rows this recent are sent again with every poll, so a late commit
# is still seen; sending a card twice is harmless (it is swapped in by its id).
RECENT = timedelta(seconds=10)


def changes_since(company_id: int, after: int, limit: int = 200) -> list:
    """The company's audit rows newer than the cursor ``after`` or than ``RECENT``, oldest first.

    One query. Each row has ``id``, ``action``, ``actor_id`` and
    ``invitation_id``; the largest id is the next cursor. Rows past the
    cursor come first, so a burst of recent rows (say 300 changes within
    ``RECENT``) can never fill the page with rows already seen and pin the
    cursor; recent rows already seen take what room is left. Rows beyond
    ``limit`` wait for the next call.
    """
    rows = db.session.execute(
        select(AuditEvent.id, AuditEvent.action, AuditEvent.actor_id, AuditEvent.invitation_id)
        .where(
            AuditEvent.company_id == company_id,
            or_(AuditEvent.id > after, AuditEvent.created_at >= utcnow() - RECENT),
        )
        .order_by(case((AuditEvent.id > after, 0), else_=1), AuditEvent.id)
        .limit(limit)
    ).all()
    return sorted(rows, key=lambda row: row.id)
