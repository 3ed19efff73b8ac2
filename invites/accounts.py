"""Accounts, companies and memberships: the rules the auth and company pages share."""
from __future__ import annotations

import unicodedata
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager
from werkzeug.security import check_password_hash, generate_password_hash

from . import audit
from .extensions import db
from .models import Company, Membership, Role, User, as_id
from .paging import Page, fetch_page

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 200
NAME_MAX_LENGTH = 100
COMPANY_NAME_MAX_LENGTH = 100

EMAIL_TAKEN = "An account with this email already exists. Log in instead."
EMAIL_MAX_LENGTH = 254  # RFC 5321's limit on a forward path
EMAIL_INVALID = "Enter a valid email address."
EMAIL_REQUIRED = "Enter your email."
PASSWORD_REQUIRED = "Enter your password."
PASSWORD_INVALID = (
    f"Use a password of {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters."
)
LOGIN_FAILED = "Invalid email or password."
LAST_OWNER = "A company always keeps an owner: make someone else owner first."
ROLE_INVALID = "Choose Owner, Admin or Member."
NAME_INVALID = f"Enter your name (at most {NAME_MAX_LENGTH} characters)."
COMPANY_NAME_INVALID = f"Company names are at most {COMPANY_NAME_MAX_LENGTH} characters."
CONTROL_CHARACTERS = "Names cannot contain control characters."
MEMBERS_PER_PAGE = 50


class AccountError(Exception):
    """Bad input or a refused change; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(errors.values()))


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
        raise AccountError({"email": EMAIL_INVALID}) from None


def has_control_characters(text: str) -> bool:
    """True if ``text`` holds a control character (NUL, a line break, escape, …).

    Names are one line of text shown on pages and lists; PostgreSQL refuses NUL
    outright, so without this check a NUL would be a database error, not a message.
    """
    return any(unicodedata.category(c) == "Cc" for c in text)


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
    return db.session.execute(
        select(User).where(User.email == normalise_email(email))
    ).scalar_one_or_none()


def find_company_by_name(name: str) -> list[Company]:
    return list(db.session.execute(select(Company).where(Company.name == name)).scalars())


def create_account(
    email: str,
    password: str,
    name: str,
    company_name: str | None = None,
    role: Role = Role.OWNER,
    company: Company | None = None,
) -> User:
    """Create a user, and optionally a company they own (or join ``company`` with ``role``).

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

    user = User(email=email, name=name, password_hash=hash_password(password))
    db.session.add(user)
    if company is None and company_name is not None:
        company = Company(name=company_name)
        db.session.add(company)
    if company is not None:
        db.session.add(Membership(user=user, company=company, role=role.value))
    try:
        db.session.commit()
    except IntegrityError:
        # Two sign-ups with one email at the same instant: the UNIQUE decides.
        db.session.rollback()
        raise AccountError({"email": EMAIL_TAKEN}) from None
    return user


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


# --- memberships -------------------------------------------------------------


def memberships_of(user_id: int) -> list[Membership]:
    """A user's memberships with their companies, by company name."""
    return list(
        db.session.execute(
            select(Membership)
            .join(Membership.company)
            .options(contains_eager(Membership.company))
            .where(Membership.user_id == user_id)
            .order_by(Company.name, Company.id)
        ).scalars()
    )


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


def change_role(membership: Membership, role: Role, actor: User) -> Membership:
    """Set a member's role; an owner can lose the role only while another owner remains.

    The role they already have changes nothing and leaves no audit row.
    """
    _lock_company(membership.company_id)
    current = db.session.scalar(select(Membership.role).where(Membership.id == membership.id))
    if current == role.value:
        db.session.rollback()
        db.session.refresh(membership)
        return membership
    result = db.session.execute(
        update(Membership)
        .where(
            Membership.id == membership.id,
            (Membership.role != Role.OWNER.value)
            | _other_owners_exist(membership.company_id, membership.id),
        )
        .values(role=role.value)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise AccountError({"role": LAST_OWNER})
    audit.record(
        audit.Action.ROLE_CHANGE,
        company_id=membership.company_id,
        actor_id=actor.id,
        subject_user_id=membership.user_id,
        detail=role.value,
    )
    db.session.commit()
    db.session.refresh(membership)
    return membership


def remove_member(membership: Membership, actor: User) -> None:
    """Remove a member; the last owner cannot be removed."""
    company_id, user_id = membership.company_id, membership.user_id
    _lock_company(company_id)
    result = db.session.execute(
        Membership.__table__.delete().where(
            Membership.id == membership.id,
            (Membership.role != Role.OWNER.value) | _other_owners_exist(company_id, membership.id),
        )
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise AccountError({"role": LAST_OWNER})
    audit.record(
        audit.Action.MEMBER_REMOVE,
        company_id=company_id,
        actor_id=actor.id,
        subject_user_id=user_id,
    )
    db.session.commit()
