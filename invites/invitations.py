"""The invitation rules, in one place: limits, states, messages, and the atomic accept.

Nothing here knows about HTTP. The dashboard, the invite page and the JSON API
call these functions and turn their results (or an ``InvitationRefused``) into
pages, fragments or JSON.
"""
from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import and_, case, exists, not_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.expression import FunctionElement

from . import audit
from .accounts import EMAIL_MAX_LENGTH, normalise_email
from .extensions import db
from .models import (
    Company,
    Invitation,
    InvitationStatus,
    Membership,
    Redemption,
    Role,
    User,
    UTCDateTime,
    as_id,
    utcnow,
)

MAX_USES_MIN, MAX_USES_MAX, MAX_USES_DEFAULT = 1, 100, 1
EXPIRES_MIN, EXPIRES_MAX, EXPIRES_DEFAULT = 1, 30, 7
# 24 random bytes: 192 bits, 32 URL-safe characters.
CODE_BYTES = 24
CODE_MAX_LENGTH = 64

MAX_USES_ERROR = f"Maximum uses must be a whole number from {MAX_USES_MIN} to {MAX_USES_MAX}."
EXPIRES_ERROR = f"Expiry must be a whole number of days from {EXPIRES_MIN} to {EXPIRES_MAX}."
EMAIL_ERROR = "Enter a valid email address, or leave it empty."


class Refusal(enum.Enum):
    """Why an invitation cannot be used (or changed), with the message users see."""

    NOT_FOUND = "Invitation not found"
    REVOKED = "This invitation has been revoked"
    EXPIRED = "This invitation has expired"
    FULL = "This invitation has reached its maximum number of uses"
    PAUSED = "This invitation has been paused"
    WRONG_ACCOUNT = "This invitation was sent to a different email address"
    ALREADY_MEMBER = "You are already a member of {company}"
    # A member who was removed and opens the same link again: one user, one use.
    ALREADY_USED = "You have already used this invitation"


class InvitationRefused(Exception):
    """Raised when an invitation cannot be used or changed; ``message`` is for the user."""

    def __init__(self, reason: Refusal, invitation: Invitation | None = None):
        self.reason = reason
        self.invitation = invitation
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.reason is Refusal.ALREADY_MEMBER and self.invitation is not None:
            return self.reason.value.format(company=self.invitation.company.name)
        return self.reason.value


class InvalidInvitation(Exception):
    """Raised for bad input to ``create``; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class State(str, enum.Enum):
    """What the dashboard shows as an invitation's status badge."""

    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


class Filter(str, enum.Enum):
    """The dashboard's and the API's list filters, with their labels."""

    ALL = "all"
    ACTIVE = "active"
    PAUSED = "paused"
    FULLY_USED = "fully_used"
    EXPIRED = "expired"
    REVOKED = "revoked"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def shows_new(self) -> bool:
        """A new invitation is active: the lists that show it straight away."""
        return self in (Filter.ALL, Filter.ACTIVE)


# --- input -------------------------------------------------------------------


@dataclass(frozen=True)
class NewInvitation:
    """Validated input for ``create``."""

    email: str | None
    max_uses: int
    expires_in_days: int


def _whole_number(raw: Any, low: int, high: int, default: int) -> int | None:
    """``raw`` as an int in [low, high]; ``default`` when absent; None when invalid.

    Accepts ints and strings of digits (forms send strings); refuses booleans,
    fractions, and anything else, rather than rounding or guessing.
    """
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return default
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        # Leading zeros are still the same number ("007" is 7); what is left is bounded
        # before int() sees it, so a 10 kB string of digits costs nothing.
        digits = raw.strip().lstrip("0") or "0"
        if len(digits) > 6:
            return None
        value = int(digits)
    else:
        return None
    return value if low <= value <= high else None


def check_email(raw: Any) -> str | None:
    """A normalised target email, or None for a general invitation; raises ValueError."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    if not isinstance(raw, str) or len(raw) > EMAIL_MAX_LENGTH:
        raise ValueError(EMAIL_ERROR)
    try:
        validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(EMAIL_ERROR) from exc
    return normalise_email(raw)


def parse_new_invitation(email: Any, max_uses: Any, expires_in_days: Any) -> NewInvitation:
    """Validate raw input from a form or a JSON body; raise ``InvalidInvitation``."""
    errors: dict[str, str] = {}
    try:
        clean_email = check_email(email)
    except ValueError as exc:
        errors["email"] = str(exc)
        clean_email = None
    uses = _whole_number(max_uses, MAX_USES_MIN, MAX_USES_MAX, MAX_USES_DEFAULT)
    if uses is None:
        errors["max_uses"] = MAX_USES_ERROR
    days = _whole_number(expires_in_days, EXPIRES_MIN, EXPIRES_MAX, EXPIRES_DEFAULT)
    if days is None:
        errors["expires_in_days"] = EXPIRES_ERROR
    if errors:
        raise InvalidInvitation(errors)
    return NewInvitation(email=clean_email, max_uses=uses, expires_in_days=days)


# --- states ------------------------------------------------------------------


def state(invitation: Invitation, now: datetime | None = None) -> State:
    """The status badge: REVOKED, then ACCEPTED (fully used), then EXPIRED, else PENDING."""
    now = now or utcnow()
    if invitation.revoked_at is not None:
        return State.REVOKED
    if invitation.used_count >= invitation.max_uses:
        return State.ACCEPTED
    if invitation.expires_at <= now:
        return State.EXPIRED
    return State.PENDING


def refusal(invitation: Invitation | None, now: datetime | None = None) -> Refusal | None:
    """Why this invitation cannot be accepted now, in the documented order, or None."""
    if invitation is None:
        return Refusal.NOT_FOUND
    now = now or utcnow()
    if invitation.revoked_at is not None:
        return Refusal.REVOKED
    if invitation.expires_at <= now:
        return Refusal.EXPIRED
    if invitation.used_count >= invitation.max_uses:
        return Refusal.FULL
    if not invitation.is_active:
        return Refusal.PAUSED
    return None


def can_toggle(invitation: Invitation, now: datetime | None = None) -> bool:
    """Pause/Start (and Copy Link) are offered while the invitation can still be used."""
    return state(invitation, now) is State.PENDING


def can_revoke(invitation: Invitation) -> bool:
    """Revoke is offered while the invitation is neither revoked nor fully used."""
    return invitation.revoked_at is None and invitation.used_count < invitation.max_uses


def remaining_uses(invitation: Invitation) -> int:
    """How many more people the invitation admits (never negative)."""
    return max(invitation.max_uses - invitation.used_count, 0)


def mask_email(email: str) -> str:
    """``john@example.com`` → ``j***@example.com``: enough to recognise, not to harvest."""
    local, _, domain = normalise_email(email).partition("@")
    return f"{local[:1]}***@{domain}"


def email_matches(invitation: Invitation, user: User) -> bool:
    """True unless the invitation targets an email that is not this user's."""
    return invitation.email is None or normalise_email(invitation.email) == normalise_email(
        user.email
    )


# --- lookups -----------------------------------------------------------------


def find_by_code(code: Any) -> Invitation | None:
    """The invitation with this code (company and creator loaded), or None if malformed."""
    if not isinstance(code, str) or not code or len(code) > CODE_MAX_LENGTH:
        return None
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in code):
        return None
    return db.session.execute(
        select(Invitation)
        .options(joinedload(Invitation.company), joinedload(Invitation.creator))
        .where(Invitation.code == code)
    ).scalar_one_or_none()


def get_for_company(invitation_id: Any, company_id: int) -> Invitation | None:
    """An invitation by id, only if it belongs to ``company_id`` (the tenant check)."""
    invitation_id = as_id(invitation_id)
    if invitation_id is None:
        return None
    return db.session.execute(
        select(Invitation).where(
            Invitation.id == invitation_id, Invitation.company_id == company_id
        )
    ).scalar_one_or_none()


def get_many_for_company(invitation_ids: list[int], company_id: int) -> list[Invitation]:
    """The invitations among ``invitation_ids`` that belong to ``company_id``, newest first."""
    if not invitation_ids:
        return []
    return list(
        db.session.execute(
            select(Invitation)
            .where(Invitation.id.in_(invitation_ids), Invitation.company_id == company_id)
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        ).scalars()
    )


def user_refusal(invitation: Invitation, user: User) -> Refusal | None:
    """Why this user in particular may not use the invitation, in order, or None."""
    if not email_matches(invitation, user):
        return Refusal.WRONG_ACCOUNT
    # One statement, so one snapshot: a use commits its membership and its
    # redemption together, and a racing request must see both or neither.
    member, redeemed = db.session.execute(
        select(
            exists().where(Membership.user_id == user.id, Membership.company_id == invitation.company_id),
            exists().where(Redemption.invitation_id == invitation.id, Redemption.user_id == user.id),
        )
    ).one()
    if member:
        return Refusal.ALREADY_MEMBER
    if redeemed:
        return Refusal.ALREADY_USED
    return None


def check(code: Any, user: User | None = None) -> Invitation:
    """The invitation behind ``code`` if ``user`` (or anyone, if None) could accept it now.

    Raises ``InvitationRefused`` with the first reason that applies: the five
    invitation refusals in order, then wrong account, then already a member,
    then already used. Reads only; a GET of the invite page calls this.
    """
    invitation = find_by_code(code)
    reason = refusal(invitation)
    if reason is None and user is not None:
        reason = user_refusal(invitation, user)
    if reason is not None:
        raise InvitationRefused(reason, invitation)
    return invitation


def filter_clause(which: Filter, now: datetime):
    """The WHERE clause for a list filter; matches ``state`` and ``is_active``."""
    not_full = Invitation.used_count < Invitation.max_uses
    usable = and_(Invitation.revoked_at.is_(None), not_full, Invitation.expires_at > now)
    return {
        Filter.ALL: None,
        Filter.ACTIVE: and_(usable, Invitation.is_active),
        Filter.PAUSED: and_(usable, not_(Invitation.is_active)),
        Filter.FULLY_USED: and_(Invitation.revoked_at.is_(None), Invitation.used_count >= Invitation.max_uses),
        Filter.EXPIRED: and_(Invitation.revoked_at.is_(None), not_full, Invitation.expires_at <= now),
        Filter.REVOKED: Invitation.revoked_at.is_not(None),
    }[which]


@dataclass
class InvitationPage:
    """One page of a company's invitations, newest first."""

    items: list[Invitation]
    page: int
    has_next: bool
    filter: Filter

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def parse_filter(raw: Any) -> Filter:
    """The filter named by ``raw``; anything unknown means all."""
    try:
        return Filter(raw)
    except ValueError:
        return Filter.ALL


def parse_page(raw: Any) -> int:
    """A page number from a query string; anything odd means page 1."""
    try:
        page = int(raw)
    except (TypeError, ValueError):
        return 1
    return page if 1 <= page <= 100_000 else 1


def list_for_company(
    company_id: int, which: Filter = Filter.ALL, page: int = 1, per_page: int = 50
) -> InvitationPage:
    """A page of the company's invitations, newest first, one query."""
    query = select(Invitation).where(Invitation.company_id == company_id)
    clause = filter_clause(which, utcnow())
    if clause is not None:
        query = query.where(clause)
    rows = list(
        db.session.execute(
            query.order_by(Invitation.created_at.desc(), Invitation.id.desc())
            .limit(per_page + 1)
            .offset((page - 1) * per_page)
        ).scalars()
    )
    return InvitationPage(
        items=rows[:per_page], page=page, has_next=len(rows) > per_page, filter=which
    )


def redemptions(invitation_id: int) -> list[Redemption]:
    """Who used an invitation and when, oldest first."""
    return list(
        db.session.execute(
            select(Redemption)
            .options(joinedload(Redemption.user))
            .where(Redemption.invitation_id == invitation_id)
            .order_by(Redemption.created_at, Redemption.id)
        ).scalars()
    )


def export_rows(company_id: int, which: Filter = Filter.ALL, batch: int = 500):
    """Every invitation of the company in ``which``, newest first, fetched ``batch`` rows at a time.

    For the CSV export: the rows arrive in batches (a server-side cursor on
    PostgreSQL), so 10,000 invitations never sit in memory at once. The creator
    comes in the same query.
    """
    query = (
        select(Invitation, User.email)
        .join(User, User.id == Invitation.created_by)
        .where(Invitation.company_id == company_id)
    )
    clause = filter_clause(which, utcnow())
    if clause is not None:
        query = query.where(clause)
    query = query.order_by(Invitation.created_at.desc(), Invitation.id.desc())
    result = db.session.execute(query.execution_options(yield_per=batch))
    for invitation, creator_email in result:
        yield invitation, creator_email
        # Done with the row: let the identity map forget it, so memory stays flat.
        db.session.expunge(invitation)


def export_redemptions(company_id: int, batch: int = 500):
    """Who joined the company through which invitation and when, oldest first, in batches.

    Rows of (redemption time, user name, user email, invitation code), read
    through a server-side cursor on PostgreSQL like ``export_rows``.
    """
    query = (
        select(Redemption.created_at, User.name, User.email, Invitation.code)
        .join(Invitation, Invitation.id == Redemption.invitation_id)
        .join(User, User.id == Redemption.user_id)
        .where(Invitation.company_id == company_id)
        .order_by(Redemption.created_at, Redemption.id)
    )
    yield from db.session.execute(query.execution_options(yield_per=batch))


# --- the database's clock ---------------------------------------------------


class db_now(FunctionElement):
    """The database's current time, comparable with stored ``UTCDateTime`` values.

    Conditional UPDATEs compare ``expires_at`` with this, so the database
    decides by its own clock at the moment it applies the change.
    """

    type = UTCDateTime()
    inherit_cache = True


@compiles(db_now)
def _db_now_default(element, compiler, **kw):
    return "CURRENT_TIMESTAMP"


@compiles(db_now, "postgresql")
def _db_now_postgresql(element, compiler, **kw):
    # now() is the start of the transaction, which began with the request's
    # first query; the clock at the moment the row is updated is what counts.
    return "clock_timestamp()"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element, compiler, **kw):
    # SQLite compares these as text. Stored values read 'YYYY-MM-DD HH:MM:SS.ffffff'
    # and CURRENT_TIMESTAMP has no fraction, so '…:00.500000' > '…:00' kept an
    # expired invitation usable for up to a second. Milliseconds fix that.
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


# --- changes -----------------------------------------------------------------


def creation_detail(max_uses: int, expires_in_days: int) -> str:
    """What the audit trail says of a new invitation."""
    return f"max uses {max_uses}, expires in {expires_in_days} days"


def new_code() -> str:
    """An unguessable, URL-safe invitation code."""
    return secrets.token_urlsafe(CODE_BYTES)


def _code_taken(code: str) -> bool:
    """True if an invitation already has this code."""
    return db.session.execute(select(Invitation.id).where(Invitation.code == code)).first() is not None


def create(company_id: int, creator: User, new: NewInvitation, attempts: int = 5) -> Invitation:
    """Store a new invitation and its audit row; a code collision retries with a new code."""
    for _ in range(attempts):
        now = utcnow()
        invitation = Invitation(
            code=new_code(),
            email=new.email,
            company_id=company_id,
            created_by=creator.id,
            created_at=now,
            expires_at=now + timedelta(days=new.expires_in_days),
            max_uses=new.max_uses,
            used_count=0,
            is_active=True,
            status=InvitationStatus.PENDING.value,
        )
        db.session.add(invitation)
        try:
            db.session.flush()
            audit.record(
                audit.Action.CREATE,
                company_id=company_id,
                actor_id=creator.id,
                invitation_id=invitation.id,
                detail=creation_detail(new.max_uses, new.expires_in_days),
            )
            db.session.commit()
            return invitation
        except IntegrityError:
            db.session.rollback()
            if not _code_taken(invitation.code):
                raise
    raise RuntimeError("could not generate a unique invitation code")


def _changeable(invitation_id: int):
    """Rows that can still be paused or started: not revoked, not full, not expired."""
    return and_(
        Invitation.id == invitation_id,
        Invitation.revoked_at.is_(None),
        Invitation.used_count < Invitation.max_uses,
        Invitation.expires_at > db_now(),
    )


_CLOSED = (Refusal.REVOKED, Refusal.EXPIRED, Refusal.FULL, Refusal.PAUSED)


def _refusal_after_failed_update(
    invitation: Invitation,
    considered: tuple[Refusal, ...] = _CLOSED,
    otherwise: Refusal = Refusal.FULL,
) -> InvitationRefused:
    """After a conditional UPDATE matched nothing: ask the database why, in the documented order.

    ``considered`` are the conditions that UPDATE tested. The database judges
    expiry by its own clock, as the UPDATE did, so the answer agrees with the
    decision even if the app server's clock is off. ``otherwise`` answers when
    none holds any more: only a pause can be undone, so that means a pause
    that was started again in between.
    """
    db.session.rollback()
    row = db.session.execute(
        select(
            Invitation.revoked_at.is_not(None),
            Invitation.expires_at <= db_now(),
            Invitation.used_count >= Invitation.max_uses,
            not_(Invitation.is_active),
        ).where(Invitation.id == invitation.id)
    ).first()
    if row is None:
        return InvitationRefused(Refusal.NOT_FOUND)
    db.session.refresh(invitation)
    holding = [reason for reason, flag in zip(_CLOSED, row) if flag and reason in considered]
    return InvitationRefused(holding[0] if holding else otherwise, invitation)


def set_active(invitation: Invitation, actor: User, active: bool | None = None) -> Invitation:
    """Pause (False), start (True) or toggle (None) an invitation that can still be used.

    One UPDATE decides, so two admins pausing at once both see it paused, and
    an invitation that filled up or was revoked meanwhile is refused.
    """
    new_value = not_(Invitation.is_active) if active is None else active
    row = db.session.execute(
        update(Invitation)
        .where(_changeable(invitation.id))
        .values(is_active=new_value)
        .returning(Invitation.is_active)
    ).first()
    if row is None:
        raise _refusal_after_failed_update(
            invitation, considered=(Refusal.REVOKED, Refusal.EXPIRED, Refusal.FULL)
        )
    return _commit_change(invitation, actor, audit.Action.START if row.is_active else audit.Action.PAUSE)


def revoke(invitation: Invitation, actor: User) -> Invitation:
    """Revoke for good an invitation that is neither revoked nor fully used."""
    row = db.session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.revoked_at.is_(None),
            Invitation.used_count < Invitation.max_uses,
        )
        .values(revoked_at=utcnow())
        .returning(Invitation.id)
    ).first()
    if row is None:
        raise _refusal_after_failed_update(invitation, considered=(Refusal.REVOKED, Refusal.FULL))
    return _commit_change(invitation, actor, audit.Action.REVOKE)


def _commit_change(invitation: Invitation, actor: User, action: audit.Action) -> Invitation:
    """Record an admin's change in the audit trail, commit both, and reload the invitation."""
    audit.record(action, company_id=invitation.company_id, actor_id=actor.id, invitation_id=invitation.id)
    db.session.commit()
    db.session.refresh(invitation)
    return invitation


@dataclass(frozen=True)
class Acceptance:
    """The result of a successful accept."""

    invitation: Invitation
    company: Company
    membership: Membership


def accept(code: Any, user: User) -> Acceptance:
    """Use one place on the invitation for ``user`` and make them a MEMBER, atomically.

    The counter moves only through one conditional UPDATE, evaluated by the
    database at that moment (active, not revoked, not expired, not full); its
    row count decides. The redemption and the membership are inserted in the
    same transaction, each guarded by a UNIQUE constraint, so a user who is
    already in (or who clicks twice at once) rolls the whole thing back and
    the use is given back.
    """
    invitation = check(code, user)
    # From the UPDATE to COMMIT the transaction holds a write lock (SQLite's only
    # one for the whole database; PostgreSQL's on the invitation's row) and every
    # other accept of it waits: the rows are built before, and the three INSERTs
    # go in one flush with the COMMIT.
    membership = Membership(user_id=user.id, company_id=invitation.company_id, role=Role.MEMBER.value)
    redemption = Redemption(invitation_id=invitation.id, user_id=user.id)
    result = db.session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.is_active,
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > db_now(),
            Invitation.used_count < Invitation.max_uses,
        )
        .values(
            used_count=Invitation.used_count + 1,
            # SET sees the row as it was, so "+ 1" is the count after this use.
            status=case(
                (Invitation.used_count + 1 >= Invitation.max_uses, InvitationStatus.ACCEPTED.value),
                else_=Invitation.status,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _refusal_after_failed_update(invitation, otherwise=Refusal.PAUSED)
    db.session.add_all([redemption, membership])
    audit.record(
        audit.Action.ACCEPT,
        company_id=invitation.company_id,
        actor_id=user.id,
        invitation_id=invitation.id,
        subject_user_id=user.id,
    )
    try:
        db.session.commit()
    except IntegrityError:
        # Another request of this user won the race (or they joined meanwhile):
        # the rollback gives the use back; say which of the two it was.
        db.session.rollback()
        reason = user_refusal(invitation, user) or Refusal.ALREADY_MEMBER
        raise InvitationRefused(reason, invitation) from None
    db.session.refresh(invitation)
    return Acceptance(invitation=invitation, company=invitation.company, membership=membership)
