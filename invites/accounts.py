"""Accounts, companies and memberships: the rules the auth and company pages share."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from flask import current_app
from flask_login import UserMixin
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager
from werkzeug.security import check_password_hash, generate_password_hash

from . import audit, outbox, tokens
from .extensions import db
from .models import Company, EmailKind, Membership, Role, User, as_id, new_session_token, utcnow
from .paging import Page, fetch_page

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 200
NAME_MAX_LENGTH = 100
COMPANY_NAME_MAX_LENGTH = 100

EMAIL_TAKEN = "An account with this email already exists. Log in instead."
EMAIL_MAX_LENGTH = 254  # RFC 5321's limit on a forward path
EMAIL_INVALID = "Enter a valid email address."
EMAIL_RESERVED_DOMAIN = (
    "Email cannot be delivered to reserved domains such as .test, .invalid or .localhost: enter a real address."
)
EMAIL_REQUIRED = "Enter your email."
PASSWORD_REQUIRED = "Enter your password."
PASSWORD_INVALID = f"Use a password of {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters."
LOGIN_FAILED = "Invalid email or password."
LAST_OWNER = "A company always keeps an owner: make someone else owner first."
MEMBER_GONE = "{name} is no longer a member of {company}: someone removed them meanwhile."
ROLE_INVALID = "Choose Owner, Admin or Member."
NAME_INVALID = f"Enter your name (at most {NAME_MAX_LENGTH} characters)."
COMPANY_NAME_INVALID = f"Company names are at most {COMPANY_NAME_MAX_LENGTH} characters."
CONTROL_CHARACTERS = "Names cannot contain control characters."
MEMBERS_PER_PAGE = 50


class SignedInUser(UserMixin):
    """Who the session says is signed in: what a request needs of them, from one row.

    Not an ORM ``User``: Flask-Login loads one on every signed-in request, and
    going through the Session and its identity map cost about a quarter of a
    validate (docs/performance.md). Wherever the domain takes a user it reads
    ``id``, ``email`` and ``email_verified_at``; templates show ``email``.
    """

    __slots__ = ("id", "email", "name", "email_verified_at", "session_token")

    def __init__(self, id: int, email: str, name: str, email_verified_at: datetime | None, session_token: str | None):
        self.id, self.email, self.name = id, email, name
        self.email_verified_at, self.session_token = email_verified_at, session_token

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def get_id(self) -> str:
        """Flask-Login's alternative id, as ``User.get_id``: ``<user id>:<session token>``."""
        return f"{self.id}:{self.session_token}"

    def __repr__(self) -> str:
        return f"<SignedInUser {self.id} {self.email}>"


_users = User.__table__.c
#: The columns of ``SignedInUser``, by id: one Core statement, built (and its cache key) once.
SIGNED_IN_USER = select(_users.id, _users.email, _users.name, _users.email_verified_at, _users.session_token).where(
    _users.id == bindparam("user_id")
)


class AccountError(Exception):
    """Bad input or a refused change; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(errors.values()))


class MemberGone(AccountError):
    """The membership a change was aimed at was removed meanwhile (answered 404, like any vanished row)."""

    def __init__(self, name: str, company: str):
        super().__init__({"member": MEMBER_GONE.format(name=name, company=company)})


def _canonical(raw: str) -> str:
    """``raw`` as email_validator writes it (IDNA domain, NFC), then NFKC and lower-cased.

    Raises ``EmailNotValidError`` for anything that is not an address, including
    invisible and bidirectional control characters (email_validator's "unsafe
    characters"), so ``a\u200b@example.com`` never looks like ``a@example.com``.
    """
    folded = unicodedata.normalize("NFKC", raw.strip())
    return validate_email(folded, check_deliverability=False).normalized.lower()


def normalise_email(email: str) -> str:
    """The form an email is stored and compared in: ``Owner1@A-Corp．com`` is ``owner1@a-corp.com``.

    For look-ups (log in, rate-limit keys) it never raises: text that is no
    valid address is only trimmed, folded and lower-cased, and matches nobody.
    """
    try:
        return _canonical(email)
    except (EmailNotValidError, ValueError):
        return unicodedata.normalize("NFKC", email.strip()).lower()


def valid_email(raw: object) -> str:
    """The one email validator: ``raw`` normalised (see ``normalise_email``), or ValueError.

    Accounts and invitation targets both go through here, each with its own message.
    """
    if not isinstance(raw, str) or not raw.strip() or len(raw) > EMAIL_MAX_LENGTH:
        raise ValueError("not an email address")
    try:
        email = _canonical(raw)
    except EmailNotValidError:
        raise ValueError("not an email address") from None
    if len(email) > EMAIL_MAX_LENGTH:
        raise ValueError("not an email address")
    return email


def check_email(raw: object) -> str:
    """A normalised, valid account email, or ``AccountError``."""
    try:
        return valid_email(raw)
    except ValueError:
        message = EMAIL_RESERVED_DOMAIN if isinstance(raw, str) and is_reserved_domain(raw) else EMAIL_INVALID
        raise AccountError({"email": message}) from None


def is_reserved_domain(email: str) -> bool:
    """True if the address is at a special-use domain (RFC 6761: .test, .localhost, …).

    The email validator refuses those with a message about "special-use names";
    this lets the pages say plainly why the address was refused.
    """
    domain = email.rpartition("@")[2].strip().rstrip(".").lower()
    return any(domain == name or domain.endswith("." + name) for name in SPECIAL_USE_DOMAIN_NAMES)


#: Control characters (Cc: NUL, newline, escape, …) and Unicode's own line and paragraph
#: separators (Zl, Zp: U+2028, U+2029), which break a line as a newline does.
_NOT_ONE_LINE = frozenset({"Cc", "Zl", "Zp"})


def has_control_characters(text: str) -> bool:
    """True if ``text`` holds a control character (NUL, a line break, escape, …).

    Names are one line of text shown on pages and lists; PostgreSQL refuses NUL
    outright, so without this check a NUL would be a database error, not a message.
    """
    return any(unicodedata.category(c) in _NOT_ONE_LINE for c in text)


def check_password(raw: object) -> str:
    if not isinstance(raw, str) or not PASSWORD_MIN_LENGTH <= len(raw) <= PASSWORD_MAX_LENGTH:
        raise AccountError({"password": PASSWORD_INVALID})
    return raw


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def find_user_by_email(email: str) -> User | None:
    """The user with this email (any case), or None; a NUL byte (PostgreSQL refuses it) is None."""
    if "\x00" in email:
        return None
    return db.session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()


def find_company_by_name(name: str) -> list[Company]:
    return list(db.session.execute(select(Company).where(Company.name == name)).scalars())


def create_account(
    email: str,
    password: str,
    name: str,
    company_name: str | None = None,
    role: Role = Role.OWNER,
    company: Company | None = None,
    verified: bool = False,
) -> User:
    """Create a user, and optionally a company they own (or join ``company`` with ``role``).

    ``verified``: the address is already proven (an operator vouches for it, or the
    person followed an invitation email's link). Otherwise a confirmation email is
    written to the outbox in the same transaction as the account.

    Raises ``AccountError`` for bad input or an email that is taken; stores nothing then.
    """
    errors: dict[str, str] = {}
    try:
        email = check_email(email)
    except AccountError as exc:
        errors.update(exc.errors)
    try:
        check_password(password)
    except AccountError as exc:
        errors.update(exc.errors)
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        errors["name"] = NAME_INVALID
    elif has_control_characters(name):
        errors["name"] = CONTROL_CHARACTERS
    company_name = (company_name or "").strip() or None
    if company_name is not None and len(company_name) > COMPANY_NAME_MAX_LENGTH:
        errors["company_name"] = COMPANY_NAME_INVALID
    elif company_name is not None and has_control_characters(company_name):
        errors["company_name"] = CONTROL_CHARACTERS
    if not errors and find_user_by_email(email) is not None:
        errors["email"] = EMAIL_TAKEN
    if errors:
        raise AccountError(errors)

    user = User(
        email=email,
        name=name,
        password_hash=hash_password(password),
        email_verified_at=utcnow() if verified else None,
        session_token=new_session_token(),
    )
    db.session.add(user)
    if company is None and company_name is not None:
        company = Company(name=company_name)
        db.session.add(company)
    if company is not None:
        db.session.add(Membership(user=user, company=company, role=role.value))
    try:
        if not verified:
            db.session.flush()  # the confirmation link names the new id
            queue_confirmation(user)
        db.session.commit()
    except IntegrityError:
        # Two sign-ups with one email at the same instant: the UNIQUE decides.
        db.session.rollback()
        raise AccountError({"email": EMAIL_TAKEN}) from None
    return user


COMPANY_NAME_REQUIRED = "Enter the company's name."


def create_company(user: User, name: str) -> Company:
    """A new company, owned by ``user`` (who may already belong to others).

    Raises ``AccountError`` (``name``) for an empty, too long or control-character
    name; stores nothing then.
    """
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise AccountError({"name": COMPANY_NAME_REQUIRED})
    if len(name) > COMPANY_NAME_MAX_LENGTH:
        raise AccountError({"name": COMPANY_NAME_INVALID})
    if has_control_characters(name):
        raise AccountError({"name": CONTROL_CHARACTERS})
    company = Company(name=name)
    db.session.add(company)
    db.session.add(Membership(user_id=user.id, company=company, role=Role.OWNER.value))
    db.session.commit()
    return company


# A hash of a random password, so that an unknown email costs as much as a wrong password.
_DUMMY_HASH: dict[str, str] = {}


def authenticate(email: object, password: object) -> User | None:
    """The user with these credentials, or None; the same work either way."""
    if not isinstance(email, str) or not isinstance(password, str):
        return None
    if len(email) > EMAIL_MAX_LENGTH or len(password) > PASSWORD_MAX_LENGTH:
        return None
    user = find_user_by_email(email)
    if user is None:
        method = current_app.config["PASSWORD_HASH_METHOD"]
        if method not in _DUMMY_HASH:
            _DUMMY_HASH[method] = generate_password_hash("x" * 16, method=method)
        check_password_hash(_DUMMY_HASH[method], password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


# --- verified addresses, password reset, sessions -----------------------------

CONFIRM_SUBJECT = "Confirm your email address for Invites"
RESET_SUBJECT = "Reset your Invites password"
RESET_PASSWORD_MISMATCH = "The passwords do not match."


def confirmation_token(user: User) -> str:
    """The confirm link's token: this user and address, good while the account is unverified."""
    return tokens.make(tokens.Purpose.CONFIRM, {"u": user.id, "e": user.email})


def queue_confirmation(user: User) -> None:
    """Add the confirmation email to the current transaction (the caller commits)."""
    outbox.queue_email(
        EmailKind.CONFIRM,
        user.email,
        CONFIRM_SUBJECT,
        "confirm",
        user_id=user.id,
        name=user.name,
        link=outbox.absolute_url("auth.confirm_email", token=confirmation_token(user)),
        hours=tokens.Purpose.CONFIRM.max_age // 3600,
    )


def resend_confirmation(user: User) -> bool:
    """Send the confirmation email again; False when the address is already confirmed."""
    user = db.session.get(User, user.id)
    if user is None or user.email_verified_at is not None:
        return False
    queue_confirmation(user)
    db.session.commit()
    return True


def confirm_email(token: str) -> User | None:
    """Verify the address a confirmation token names; the user, or None for a bad/used/old token.

    One UPDATE decides: it matches only while the account still has that address
    and is unverified, so a token works once.
    """
    payload = tokens.read(tokens.Purpose.CONFIRM, token)
    if payload is None or as_id(payload.get("u")) is None or not isinstance(payload.get("e"), str):
        return None
    changed = db.session.execute(
        update(User)
        .where(User.id == payload["u"], User.email == payload["e"], User.email_verified_at.is_(None))
        .values(email_verified_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return db.session.get(User, payload["u"]) if changed == 1 else None


def verify_address(user: User) -> None:
    """Mark ``user``'s address as proven (they followed a link sent to it); no-op if it is."""
    db.session.execute(
        update(User)
        .where(User.id == user.id, User.email_verified_at.is_(None))
        .values(email_verified_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def request_password_reset(email: object) -> None:
    """Email a reset link if an account has this address; the same (nothing) to tell either way."""
    if not isinstance(email, str) or len(email) > EMAIL_MAX_LENGTH:
        return
    user = find_user_by_email(email)
    if user is None:
        return
    token = tokens.make(tokens.Purpose.RESET, {"u": user.id, "p": tokens.password_fingerprint(user.password_hash)})
    outbox.queue_email(
        EmailKind.RESET,
        user.email,
        RESET_SUBJECT,
        "reset",
        user_id=user.id,
        name=user.name,
        link=outbox.absolute_url("auth.reset_password", token=token),
        minutes=tokens.Purpose.RESET.max_age // 60,
    )
    db.session.commit()


def user_for_reset(token: str) -> User | None:
    """The user a reset token is for, while their password is still the one it was made for."""
    payload = tokens.read(tokens.Purpose.RESET, token)
    if payload is None or as_id(payload.get("u")) is None:
        return None
    user = db.session.get(User, payload["u"])
    if user is None or payload.get("p") != tokens.password_fingerprint(user.password_hash):
        return None
    return user


def reset_password(token: str, password: object) -> User | None:
    """Set a new password through a reset token; ends every session of the account.

    The token names the old password, so the UPDATE that replaces it decides: a
    token works once. Following the link also proves the address.
    """
    user = user_for_reset(token)
    if user is None:
        return None
    check_password(password)
    old_hash = user.password_hash
    changed = db.session.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == old_hash)
        .values(
            password_hash=hash_password(password),
            session_token=new_session_token(),
            email_verified_at=func.coalesce(User.email_verified_at, utcnow()),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if changed != 1:
        return None
    db.session.refresh(user)
    return user


def end_sessions(user_id: int) -> None:
    """Give the user a new session token: every cookie signed in with the old one stops working.

    Added to the current transaction; the caller commits.
    """
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(session_token=new_session_token())
        .execution_options(synchronize_session=False)
    )


# --- memberships -------------------------------------------------------------


_MEMBERSHIPS_OF = (
    select(Membership)
    .join(Membership.company)
    .options(contains_eager(Membership.company))
    .where(Membership.user_id == bindparam("user_id"))
    .order_by(Company.name, Company.id)
)


def memberships_of(user_id: int) -> list[Membership]:
    """A user's memberships with their companies, by company name."""
    return list(db.session.execute(_MEMBERSHIPS_OF, {"user_id": user_id}).scalars())


class CompanySnapshot:
    """A company as the signed-in user's membership carries it: its columns, read-only."""

    __slots__ = ("id", "name", "created_at", "invitations_paused_at")

    def __init__(self, id: int, name: str, created_at: datetime, invitations_paused_at: datetime | None):
        self.id, self.name, self.created_at = id, name, created_at
        self.invitations_paused_at = invitations_paused_at


class MembershipSnapshot:
    """The signed-in user's membership in one company, with the company: one Core row, read-only.

    Not an ORM ``Membership``: ``tenancy.current_membership`` loads the user's
    memberships on every dashboard request and card change, and the Session's
    identity map and row processors cost more than the rest of the read
    (docs/performance.md). It carries what requests read of it (``id``,
    ``user_id``, ``company_id``, ``role``, ``role_enum``, ``company``); nothing
    changes a membership or a company through it: role changes and pause all
    are UPDATEs, and an answer that follows one in the same request takes its
    value from that UPDATE (``invitations.PauseAll.paused_at``), not from here.
    """

    __slots__ = ("id", "user_id", "company_id", "role", "created_at", "company")

    def __init__(self, id, user_id, company_id, role, created_at, company: CompanySnapshot):
        self.id, self.user_id, self.company_id = id, user_id, company_id
        self.role, self.created_at, self.company = role, created_at, company

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def __repr__(self) -> str:
        return f"<MembershipSnapshot {self.id} user {self.user_id} company {self.company_id} {self.role}>"


_memberships, _companies = Membership.__table__.c, Company.__table__.c
#: ``memberships_of`` in Core: the columns of both snapshots, by company name; built once.
_CURRENT_MEMBERSHIPS = (
    select(
        _memberships.id,
        _memberships.user_id,
        _memberships.company_id,
        _memberships.role,
        _memberships.created_at,
        _companies.name,
        _companies.created_at,
        _companies.invitations_paused_at,
    )
    .select_from(Membership.__table__.join(Company.__table__, _companies.id == _memberships.company_id))
    .where(_memberships.user_id == bindparam("user_id"))
    .order_by(_companies.name, _companies.id)
)


def current_memberships_of(user_id: int) -> list[MembershipSnapshot]:
    """``memberships_of`` as read-only snapshots (same rows, same order), in one Core statement."""
    rows = db.session.connection().execute(_CURRENT_MEMBERSHIPS, {"user_id": user_id})
    return [
        MembershipSnapshot(mid, uid, cid, role, created, CompanySnapshot(cid, name, company_created, paused_at))
        for mid, uid, cid, role, created, name, company_created, paused_at in rows
    ]


def get_membership(membership_id: Any, company_id: int) -> Membership | None:
    """A membership by id, only if it belongs to ``company_id``; None for any other id, however odd."""
    membership_id = as_id(membership_id)
    if membership_id is None:
        return None
    return db.session.execute(
        select(Membership).where(Membership.id == membership_id, Membership.company_id == company_id)
    ).scalar_one_or_none()


def members_page(company_id: int, page: int = 1, per_page: int = MEMBERS_PER_PAGE) -> Page[Membership]:
    """A page of a company's memberships with their users, newest first, in one query.

    A company that hands out event links has thousands of members: the demo
    company's 13,000 made one page of 13 MB.
    """
    query = (
        select(Membership)
        .join(Membership.user)
        .options(contains_eager(Membership.user))
        .where(Membership.company_id == company_id)
        .order_by(Membership.created_at.desc(), Membership.id.desc())
    )
    return fetch_page(query, page, per_page)


def _other_owners_exist(company_id: int, membership_id: int):
    return (
        select(func.count(Membership.id))
        .where(
            Membership.company_id == company_id,
            Membership.role == Role.OWNER.value,
            Membership.id != membership_id,
        )
        .scalar_subquery()
        > 0
    )


def _lock_company(company_id: int) -> None:
    """Serialise membership changes of one company (PostgreSQL; SQLite writes are serial)."""
    db.session.execute(select(Company.id).where(Company.id == company_id).with_for_update())


def _refused_change(membership_id: int, user_id: int, company_id: int) -> AccountError:
    """After a role change or removal matched no row: why, read in the same transaction.

    The conditional statement has already decided that nothing changed; this only
    names the reason. With the company's row still locked (PostgreSQL), no other
    membership change of the company can slip in between.
    """
    still_there = db.session.scalar(select(Membership.id).where(Membership.id == membership_id))
    if still_there is None:
        company_name = select(Company.name).where(Company.id == company_id).scalar_subquery()
        name, company = db.session.execute(select(User.name, company_name).where(User.id == user_id)).one()
        db.session.rollback()
        return MemberGone(name, company)
    db.session.rollback()
    return AccountError({"role": LAST_OWNER})


def change_role(membership: Membership, role: Role, actor: User) -> Membership:
    """Set a member's role; an owner can lose the role only while another owner remains.

    One conditional UPDATE decides: it matches the row only while the member is still
    there, has another role, and is not the last owner. The role they already have
    changes nothing and leaves no audit row; a member removed meanwhile raises
    ``MemberGone``; the last owner, ``AccountError`` with ``LAST_OWNER``.
    """
    membership_id, company_id, user_id = membership.id, membership.company_id, membership.user_id
    _lock_company(company_id)
    result = db.session.execute(
        update(Membership)
        .where(
            Membership.id == membership_id,
            Membership.role != role.value,
            (Membership.role != Role.OWNER.value) | _other_owners_exist(company_id, membership_id),
        )
        .values(role=role.value)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        unchanged = db.session.scalar(select(Membership.role).where(Membership.id == membership_id))
        if unchanged == role.value:  # already this role: nothing to do
            db.session.rollback()
            db.session.refresh(membership)
            return membership
        raise _refused_change(membership_id, user_id, company_id)
    audit.record(
        audit.Action.ROLE_CHANGE,
        company_id=company_id,
        actor_id=actor.id,
        subject_user_id=user_id,
        detail=role.value,
    )
    db.session.commit()
    db.session.refresh(membership)
    return membership


def remove_member(membership: Membership, actor: User) -> None:
    """Remove a member; the last owner cannot be removed.

    One conditional DELETE decides; a member removed meanwhile raises ``MemberGone``.
    """
    membership_id, company_id, user_id = membership.id, membership.company_id, membership.user_id
    _lock_company(company_id)
    result = db.session.execute(
        Membership.__table__.delete().where(
            Membership.id == membership_id,
            (Membership.role != Role.OWNER.value) | _other_owners_exist(company_id, membership_id),
        )
    )
    if result.rowcount != 1:
        raise _refused_change(membership_id, user_id, company_id)
    audit.record(
        audit.Action.MEMBER_REMOVE,
        company_id=company_id,
        actor_id=actor.id,
        subject_user_id=user_id,
    )
    # The removed member's open sessions end with the removal.
    end_sessions(user_id)
    db.session.commit()
