"""The database schema: accounts, companies, memberships, invitations, redemptions, audit.

The database enforces the invariants as well as the code: CHECK constraints on
counters and enumerations, UNIQUE on emails, codes, memberships and redemptions,
and foreign keys everywhere a row points at another.
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime, timezone
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

#: Every primary key is an INTEGER. Asked about a larger id, PostgreSQL fails ("integer
#: out of range") and SQLite cannot even bind one beyond 64 bits; no row has one anyway.
ID_MAX = 2**31 - 1


def as_id(raw: Any) -> int | None:
    """``raw`` (a path segment, a JSON value, an int) as an id some row could have, else None."""
    if isinstance(raw, bool):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if 0 < value <= ID_MAX else None


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no offset, so values are normalised to UTC on the way in and
    marked as UTC on the way out; PostgreSQL stores ``timestamptz`` and its
    values are converted to UTC on the way out, whatever the session's time zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given; use utcnow() or an aware value")
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        # PostgreSQL answers in the session's TimeZone (a server or role setting may make
        # that UTC+2): converted here, so every page formats the same UTC day.
        if value is not None:
            value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return value


def new_session_token() -> str:
    """A fresh per-user session token (see ``User.session_token``)."""
    return secrets.token_urlsafe(24)


class Role(str, enum.Enum):
    """A member's role in a company."""

    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"

    @property
    def manages_invitations(self) -> bool:
        return self in (Role.OWNER, Role.ADMIN)


class InvitationStatus(str, enum.Enum):
    """The stored status; REVOKED and EXPIRED are derived (see ``invitations.state``)."""

    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"


class User(UserMixin, db.Model):
    """Someone who can sign in. Emails are stored lower-cased, so UNIQUE ignores case."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("email = lower(email)", name="user_email_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the person proved they read this address (a confirmation or invitation
    #: link); None until then.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Part of the id the session cookie carries (``get_id``); a new one ends every
    #: session signed in with the old one (log out, password reset, removal).
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def get_id(self) -> str:
        """Flask-Login's alternative id: ``<user id>:<session token>``."""
        return f"{self.id}:{self.session_token}"


class Company(db.Model):
    """A company that people join through invitations."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: "Pause all": while set, none of the company's invitations can be used; each
    #: keeps its own ``is_active``, which comes back into force on resume.
    invitations_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(back_populates="company")


class Membership(db.Model):
    """A user's place in a company, with a role; one per user per company."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "company_id"),
        CheckConstraint("role IN ('OWNER', 'ADMIN', 'MEMBER')", name="membership_role"),
        Index(None, "company_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The invitation whose accept made this membership (None: the founder, or it was
    #: deleted); "remove who joined through it" removes only these.
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("company_invitations.id", ondelete="SET NULL"), index=True
    )

    user: Mapped[User] = relationship(back_populates="memberships")
    company: Mapped[Company] = relationship(back_populates="memberships")

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class Invitation(db.Model):
    """An invitation code to a company, usable ``max_uses`` times until it expires.

    ``used_count`` only ever moves through the conditional UPDATE in
    ``invitations.accept``; the CHECK constraints keep it within bounds even
    if some other code tried.
    """

    __tablename__ = "company_invitations"
    __table_args__ = (
        CheckConstraint("max_uses >= 1 AND max_uses <= 100", name="invitation_max_uses"),
        CheckConstraint("used_count >= 0 AND used_count <= max_uses", name="invitation_used_count"),
        CheckConstraint("status IN ('PENDING', 'ACCEPTED')", name="invitation_status"),
        CheckConstraint("role IN ('MEMBER', 'ADMIN')", name="invitation_role"),
        CheckConstraint(
            "allowed_domain IS NULL OR (email IS NULL AND allowed_domain = lower(allowed_domain))",
            name="invitation_allowed_domain",
        ),
        CheckConstraint("label IS NULL OR length(label) BETWEEN 1 AND 80", name="invitation_label"),
        CheckConstraint("version >= 1", name="invitation_version"),
        Index("idx_invitation_created_by", "created_by"),
        Index(
            "idx_invitation_revoked",
            "revoked_at",
            sqlite_where=text("revoked_at IS NOT NULL"),
            postgresql_where=text("revoked_at IS NOT NULL"),
        ),
        # The dashboard lists a company's invitations newest first (id breaks ties), so
        # each page, whatever the filter, reads its rows from this index in order.
        Index(None, "company_id", "created_at", "id"),
        # Paused invitations are few: without their own index, listing them scans the
        # whole table. (Each dialect's spelling, so that both planners match the query.)
        CheckConstraint(
            "email_state IS NULL OR email_state IN ('queued', 'sent', 'failed')",
            name="invitation_email_state",
        ),
        Index(
            "idx_invitation_paused",
            "company_id",
            "created_at",
            "id",
            sqlite_where=text("is_active = 0"),
            postgresql_where=text("NOT is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(10), default=InvitationStatus.PENDING.value)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    max_uses: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    used_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The invitation email's delivery, kept on the row so that a card shows it
    #: without another query: queued, sent or failed (None: no email).
    email_state: Mapped[str | None] = mapped_column(String(10))
    email_state_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_error: Mapped[str | None] = mapped_column(String(500))
    #: When the reminder (48 h before expiry) was queued; set once, so never twice.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What joining through this invitation makes you: MEMBER or ADMIN.
    role: Mapped[str] = mapped_column(String(10), default=Role.MEMBER.value, server_default=text("'MEMBER'"))
    #: Only verified addresses at exactly this domain may accept (no target email then).
    allowed_domain: Mapped[str | None] = mapped_column(String(253))
    #: An admin's note ("Sales team"), shown on the card and searched.
    label: Mapped[str | None] = mapped_column(String(80))
    #: One more with every edit: an edit from a card that is no longer current matches nothing.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    company: Mapped[Company] = relationship()
    creator: Mapped[User] = relationship(foreign_keys=[created_by])


class Redemption(db.Model):
    """One use of an invitation: who joined through it, and when."""

    __tablename__ = "invitation_redemptions"
    __table_args__ = (
        UniqueConstraint("invitation_id", "user_id"),
        CheckConstraint("role IN ('MEMBER', 'ADMIN')", name="redemption_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("company_invitations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The role this use granted, whatever the invitation grants later.
    role: Mapped[str] = mapped_column(String(10), default=Role.MEMBER.value, server_default=text("'MEMBER'"))

    user: Mapped[User] = relationship()


class AuditEvent(db.Model):
    """Who did what to which invitation or member, and when."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(None, "company_id", "created_at"),
        Index(None, "invitation_id", "created_at"),
        # Live usage: a company's newest event id (the cursor) and the events after it,
        # whatever the other companies write meanwhile.
        Index(None, "company_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    # An invitation deleted later leaves its history: the row keeps the code's short
    # form (how every screen names an invitation), never the whole code.
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("company_invitations.id", ondelete="SET NULL"))
    invitation_short_code: Mapped[str | None] = mapped_column(String(16))
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    subject_user: Mapped[User | None] = relationship(foreign_keys=[subject_user_id])
    invitation: Mapped[Invitation | None] = relationship()


class EmailKind(str, enum.Enum):
    """Why an email is sent."""

    CONFIRM = "confirm"
    INVITATION = "invitation"
    RESEND = "resend"
    REMINDER = "reminder"
    RESET = "reset"


class EmailState(str, enum.Enum):
    """Where an outbox row is: waiting (or waiting to retry), in a worker's hands, done."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxEmail(db.Model):
    """One email to send: written in the transaction of what causes it, sent by a worker.

    The row holds the whole message (rendered when it was caused), so a retry
    sends the same bytes under the same ``Message-ID``. ``state`` moves only by
    conditional UPDATEs (``outbox``): queued → sending (a worker claims it until
    ``lease_until``) → sent once the server accepted it, or back to queued with
    ``next_attempt_at`` after a temporary failure, or failed with the reply kept.
    """

    __tablename__ = "email_outbox"
    __table_args__ = (
        CheckConstraint("kind IN ('confirm', 'invitation', 'resend', 'reminder', 'reset')", name="outbox_kind"),
        CheckConstraint("state IN ('queued', 'sending', 'sent', 'failed')", name="outbox_state"),
        CheckConstraint("attempts >= 0", name="outbox_attempts"),
        CheckConstraint("(state = 'sent') = (sent_at IS NOT NULL)", name="outbox_sent_at"),
        CheckConstraint("state <> 'failed' OR last_error IS NOT NULL", name="outbox_failed_reason"),
        CheckConstraint("state <> 'sending' OR lease_until IS NOT NULL", name="outbox_lease"),
        # The sweeper looks for rows due again (queued, or a lease that ran out).
        Index(None, "state", "next_attempt_at"),
        Index(None, "invitation_id", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("company_invitations.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10), default=EmailState.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
