"""The invitation rules, in one place: limits, states, messages, and the atomic accept.

Nothing here knows about HTTP. The dashboard, the invite page and the JSON API
call these functions and turn their results (or an ``InvitationRefused``) into
pages, fragments or JSON.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.expression import FunctionElement

from . import audit, outbox, previews, tokens
from .accounts import end_sessions, has_control_characters, is_reserved_domain, normalise_email, valid_email
from .extensions import db
from .masking import ELLIPSIS, short_code
from .models import (
    Company,
    EmailKind,
    Invitation,
    InvitationStatus,
    Membership,
    OutboxEmail,
    Redemption,
    Role,
    User,
    UTCDateTime,
    as_id,
    utcnow,
)
from .paging import Page, page_bounds, page_from

MAX_USES_MIN, MAX_USES_MAX, MAX_USES_DEFAULT = 1, 100, 1
EXPIRES_MIN, EXPIRES_MAX, EXPIRES_DEFAULT = 1, 30, 7
# 24 random bytes: 192 bits, 32 URL-safe characters.
CODE_BYTES = 24
CODE_MAX_LENGTH = 64

MAX_USES_ERROR = f"Maximum uses must be a whole number from {MAX_USES_MIN} to {MAX_USES_MAX}."
EXPIRES_ERROR = f"Expiry must be a whole number of days from {EXPIRES_MIN} to {EXPIRES_MAX}."
EMAIL_ERROR = "Enter a valid email address, or leave it empty."
EMAIL_RESERVED_ERROR = (
    "Email cannot be delivered to reserved domains such as .test, .invalid or .localhost: "
    "enter a real address, or leave it empty."
)
#: The roles an invitation can grant (never OWNER), and who may grant ADMIN.
GRANTABLE_ROLES = (Role.MEMBER, Role.ADMIN)
ROLE_ERROR = "Role must be Member or Admin."
ADMIN_ROLE_ERROR = "Only an owner can create or edit an invitation that makes people Admins."
START_ADMIN_ERROR = "Only an owner can start an invitation that makes people Admins."
DOMAIN_MAX_LENGTH = 253
DOMAIN_ERROR = "Enter a domain such as acme.com (without @), or leave it empty."
DOMAIN_WITH_EMAIL_ERROR = (
    "An invitation for one email address cannot also be limited to a domain: leave one of them empty."
)
LABEL_MAX_LENGTH = 80
LABEL_ERROR = f"A label is at most {LABEL_MAX_LENGTH} characters, on one line."


class Refusal(enum.Enum):
    """Why an invitation cannot be used (or changed), with the message users see."""

    NOT_FOUND = "Invitation not found"
    REVOKED = "This invitation has been revoked"
    EXPIRED = "This invitation has expired"
    FULL = "This invitation has reached its maximum number of uses"
    PAUSED = "This invitation has been paused"
    WRONG_ACCOUNT = "This invitation was sent to a different email address"
    # The right address, not yet proven: anyone could have typed it when signing up.
    UNVERIFIED = "Confirm your email address to use this invitation"
    ALREADY_MEMBER = "You are already a member of {company}"
    # A member who was removed and opens the same link again: one user, one use.
    ALREADY_USED = "You have already used this invitation"
    # An invitation limited to a domain, and this account's verified address is not there.
    WRONG_DOMAIN = "This invitation is limited to @{domain} addresses"
    # An edit made from a card that is no longer current: someone changed it first.
    CHANGED_MEANWHILE = "This invitation was changed by someone else in the meantime"


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
        if self.reason is Refusal.WRONG_DOMAIN and self.invitation is not None:
            return self.reason.value.format(domain=self.invitation.allowed_domain)
        return self.reason.value


class InvalidInvitation(Exception):
    """Raised for bad input to ``create``; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class GrantRefused(InvalidInvitation):
    """Someone may not make (or edit) an invitation that grants this role: only an OWNER
    may grant ADMIN (``check_grant``). A field error on the forms (``role``); the API
    answers it 403."""

    field = "role"

    def __init__(self, message: str = ADMIN_ROLE_ERROR):
        self.message = message
        super().__init__({self.field: message})


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
    role: Role = Role.MEMBER
    allowed_domain: str | None = None
    label: str | None = None


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
    try:
        return valid_email(raw)
    except ValueError:
        reserved = isinstance(raw, str) and is_reserved_domain(raw)
        raise ValueError(EMAIL_RESERVED_ERROR if reserved else EMAIL_ERROR) from None


def check_role(raw: Any) -> Role:
    """The role an invitation grants: MEMBER when absent; raises ValueError for anything
    but MEMBER or ADMIN (any case)."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return Role.MEMBER
    if isinstance(raw, str):
        try:
            role = Role(raw.strip().upper())
        except ValueError:
            role = None
        if role in GRANTABLE_ROLES:
            return role
    raise ValueError(ROLE_ERROR)


def check_domain(raw: Any) -> str | None:
    """An allowed email domain, normalised (``Acme.COM`` → ``acme.com``), or None when
    empty; raises ValueError for anything that is no domain an address could be at.

    It is judged as the domain of an address (``accounts.valid_email``), so what it
    accepts is exactly what an account's address can end with.
    """
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    if not isinstance(raw, str) or "@" in raw or len(raw.strip()) > DOMAIN_MAX_LENGTH:
        raise ValueError(DOMAIN_ERROR)
    try:
        domain = valid_email(f"x@{raw.strip()}").rpartition("@")[2]
    except ValueError:
        raise ValueError(DOMAIN_ERROR) from None
    if len(domain) > DOMAIN_MAX_LENGTH:
        raise ValueError(DOMAIN_ERROR)
    return domain


def check_label(raw: Any) -> str | None:
    """An invitation's label, trimmed, or None when empty; raises ValueError when it is
    longer than ``LABEL_MAX_LENGTH`` or holds a control character (a line break)."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    if not isinstance(raw, str):
        raise ValueError(LABEL_ERROR)
    label = raw.strip()
    if len(label) > LABEL_MAX_LENGTH or has_control_characters(label):
        raise ValueError(LABEL_ERROR)
    return label


def may_grant(role: Role, actor_role: Role) -> bool:
    """Whether someone with ``actor_role`` in a company may create (or edit) an invitation
    that grants ``role``: anyone who manages invitations may grant MEMBER, only an OWNER ADMIN."""
    if not actor_role.manages_invitations:
        return False
    return role is Role.MEMBER or actor_role is Role.OWNER


def check_grant(role: Role, actor_role: Role) -> None:
    """The owner-only ADMIN rule, for create and edit: raises ``GrantRefused`` unless
    ``actor_role`` may grant ``role`` (see ``may_grant``)."""
    if not may_grant(role, actor_role):
        raise GrantRefused(ADMIN_ROLE_ERROR)


def domain_of(email: str) -> str:
    """The domain an (already normalised) address is at."""
    return email.rpartition("@")[2]


def parse_new_invitation(
    email: Any,
    max_uses: Any,
    expires_in_days: Any,
    role: Any = None,
    allowed_domain: Any = None,
    label: Any = None,
) -> NewInvitation:
    """Validate raw input from a form or a JSON body; raise ``InvalidInvitation``."""
    errors: dict[str, str] = {}
    try:
        clean_email = check_email(email)
    except ValueError as exc:
        errors["email"] = str(exc)
        clean_email = None
    clean = {}
    for name, checker, raw in (
        ("role", check_role, role),
        ("allowed_domain", check_domain, allowed_domain),
        ("label", check_label, label),
    ):
        try:
            clean[name] = checker(raw)
        except ValueError as exc:
            errors[name] = str(exc)
    if clean_email is not None and clean.get("allowed_domain") is not None:
        errors["allowed_domain"] = DOMAIN_WITH_EMAIL_ERROR
    uses = _whole_number(max_uses, MAX_USES_MIN, MAX_USES_MAX, MAX_USES_DEFAULT)
    if uses is None:
        errors["max_uses"] = MAX_USES_ERROR
    days = _whole_number(expires_in_days, EXPIRES_MIN, EXPIRES_MAX, EXPIRES_DEFAULT)
    if days is None:
        errors["expires_in_days"] = EXPIRES_ERROR
    if errors:
        raise InvalidInvitation(errors)
    return NewInvitation(email=clean_email, max_uses=uses, expires_in_days=days, **clean)


class _Unchanged:
    """The value of an edit's field that is not to be changed (``UNCHANGED``)."""

    def __repr__(self) -> str:
        return "UNCHANGED"

    def __bool__(self) -> bool:
        return False


#: An edit's field left as it is (a PATCH without it, an empty expiry box).
UNCHANGED: Any = _Unchanged()

USED_MORE_ERROR = (
    "This invitation has already been used {used} times: maximum uses cannot be lower than that "
    "(set it to {used} to close it)."
)


@dataclass(frozen=True)
class InvitationEdit:
    """Validated input for ``edit``: each field a new value, or ``UNCHANGED``.

    ``allowed_domain`` and ``label`` may be None: cleared. Whether the values fit the
    invitation (not below its uses, no domain with a target email, ADMIN only by an
    owner) is ``edit``'s to judge, against the row as it is when the change is made.
    """

    max_uses: Any = UNCHANGED
    expires_in_days: Any = UNCHANGED
    role: Any = UNCHANGED
    allowed_domain: Any = UNCHANGED
    label: Any = UNCHANGED

    def given(self) -> dict[str, Any]:
        """The fields this edit sets, by name."""
        return {name: value for name, value in vars(self).items() if value is not UNCHANGED}


def parse_invitation_edit(
    max_uses: Any = UNCHANGED,
    expires_in_days: Any = UNCHANGED,
    role: Any = UNCHANGED,
    allowed_domain: Any = UNCHANGED,
    label: Any = UNCHANGED,
) -> InvitationEdit:
    """Validate raw input to an edit (a form, a PATCH body); raise ``InvalidInvitation``.

    A field passed as ``UNCHANGED`` stays as it is. For max uses, expiry and role an
    empty value (None, blank) is ``UNCHANGED`` too; for the allowed domain and the
    label it clears them.
    """
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}

    def blank(raw: Any) -> bool:
        return raw is None or (isinstance(raw, str) and raw.strip() == "")

    for name, raw, low, high, message in (
        ("max_uses", max_uses, MAX_USES_MIN, MAX_USES_MAX, MAX_USES_ERROR),
        ("expires_in_days", expires_in_days, EXPIRES_MIN, EXPIRES_MAX, EXPIRES_ERROR),
    ):
        if raw is UNCHANGED or blank(raw):
            continue
        value = _whole_number(raw, low, high, None)
        if value is None:
            errors[name] = message
        else:
            clean[name] = value
    if role is not UNCHANGED and not blank(role):
        try:
            clean["role"] = check_role(role)
        except ValueError as exc:
            errors["role"] = str(exc)
    for name, checker, raw in (("allowed_domain", check_domain, allowed_domain), ("label", check_label, label)):
        if raw is UNCHANGED:
            continue
        try:
            clean[name] = checker(raw)
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise InvalidInvitation(errors)
    return InvitationEdit(**clean)


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
    """Why this invitation cannot be accepted now, in the documented order, or None.

    PAUSED covers the invitation's own pause and its company's "Pause all".
    """
    if invitation is None:
        return Refusal.NOT_FOUND
    now = now or utcnow()
    if invitation.revoked_at is not None:
        return Refusal.REVOKED
    if invitation.expires_at <= now:
        return Refusal.EXPIRED
    if invitation.used_count >= invitation.max_uses:
        return Refusal.FULL
    if not invitation.is_active or company_paused(invitation):
        return Refusal.PAUSED
    return None


def company_paused(invitation: Invitation) -> bool:
    """Whether the invitation's company has paused all its invitations ("Pause all").

    Read last by ``refusal``: the company is loaded with the invitation by code
    (``_BY_CODE``), and a dashboard card never asks.
    """
    return invitation.company.invitations_paused_at is not None


def can_toggle(invitation: Invitation, now: datetime | None = None) -> bool:
    """Pause/Start (and Copy Link) are offered while the invitation can still be used."""
    return state(invitation, now) is State.PENDING


def edit_refusal(invitation: Invitation, now: datetime | None = None) -> InvitationRefused | None:
    """Why the invitation can no longer be edited (revoked, expired), or None: a fully used
    one can still get more uses."""
    if invitation.revoked_at is not None:
        return InvitationRefused(Refusal.REVOKED, invitation)
    if invitation.expires_at <= (now or utcnow()):
        return InvitationRefused(Refusal.EXPIRED, invitation)
    return None


def may_start(invitation: Invitation | previews.InvitationRow, actor_role: Role) -> bool:
    """Whether ``actor_role`` may start (make active again) this invitation: one that grants
    ADMIN only an OWNER (``may_grant``), or an admin could undo the owner's pause and hand
    out Admin access. Pausing is open to every manager: it only takes access away."""
    return invitation.role != Role.ADMIN.value or may_grant(Role.ADMIN, actor_role)


def may_edit(invitation: Invitation, actor_role: Role) -> bool:
    """Whether ``actor_role`` may edit this invitation at all: one that grants ADMIN only an
    OWNER (``may_grant``), as only an owner may make one."""
    return may_grant(Role(invitation.role), actor_role)


def can_edit(invitation: Invitation, actor_role: Role, now: datetime | None = None) -> bool:
    """Edit is offered to whoever may edit it (``may_edit``) until it is revoked or expired."""
    return may_edit(invitation, actor_role) and edit_refusal(invitation, now) is None


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
    return invitation.email is None or normalise_email(invitation.email) == normalise_email(user.email)


def domain_matches(invitation: Invitation, user: User) -> bool:
    """True unless the invitation is limited to a domain that the user's address is not at
    (exactly: ``sales.acme.com`` is not ``acme.com``)."""
    return invitation.allowed_domain is None or domain_of(normalise_email(user.email)) == invitation.allowed_domain


def needs_verified_address(invitation: Invitation) -> bool:
    """Invitations for an address or a domain admit only accounts that proved their address."""
    return invitation.email is not None or invitation.allowed_domain is not None


# --- lookups -----------------------------------------------------------------


def well_formed_code(code: Any) -> bool:
    """Could ``code`` be an invitation code at all? Anything else is not looked up."""
    if not isinstance(code, str) or not code or len(code) > CODE_MAX_LENGTH:
        return False
    return all(c.isascii() and (c.isalnum() or c in "-_") for c in code)


# Built once, with bound parameters, so that SQLAlchemy works out their cache keys once.
_BY_CODE = (
    select(Invitation)
    .options(joinedload(Invitation.company), joinedload(Invitation.creator))
    .where(Invitation.code == bindparam("code"))
)
# The same row and, in the same statement (so one snapshot: a use commits its
# membership and its redemption together, and a racing request must see both
# or neither), whether the user is a member of its company and has used it.


def find_by_code(code: Any) -> Invitation | None:
    """The invitation with this code (company and creator loaded), or None if malformed."""
    if not well_formed_code(code):
        return None
    return db.session.execute(_BY_CODE, {"code": code}).scalar_one_or_none()


_BY_ID_FOR_COMPANY = select(Invitation).where(
    Invitation.id == bindparam("invitation_id"), Invitation.company_id == bindparam("company_id")
)


def get_for_company(invitation_id: Any, company_id: int) -> Invitation | None:
    """An invitation by id, only if it belongs to ``company_id`` (the tenant check)."""
    invitation_id = as_id(invitation_id)
    if invitation_id is None:
        return None
    return db.session.execute(
        _BY_ID_FOR_COMPANY, {"invitation_id": invitation_id, "company_id": company_id}
    ).scalar_one_or_none()


_ROW_BY_ID_FOR_COMPANY = select(*previews.INVITATION_COLUMNS).where(
    Invitation.id == bindparam("invitation_id"), Invitation.company_id == bindparam("company_id")
)


def row_for_company(invitation_id: Any, company_id: int) -> previews.InvitationRow | None:
    """``get_for_company`` as a read-only Core row (no identity map): for a change made
    by one conditional UPDATE (pause, start), which brings the row up to date itself."""
    invitation_id = as_id(invitation_id)
    if invitation_id is None:
        return None
    found = db.session.connection().execute(
        _ROW_BY_ID_FOR_COMPANY, {"invitation_id": invitation_id, "company_id": company_id}
    )
    return next(iter(previews.rows(found)), None)


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


def user_refusal(
    invitation: Invitation, user: User, member: bool | None = None, redeemed: bool | None = None
) -> Refusal | None:
    """Why this user in particular may not use the invitation, in order, or None.

    Wrong account, then wrong domain (an invitation limited to a domain), then
    (for an invitation with a target address or a domain) an address not yet
    verified, then already a member, then already used. ``member`` and
    ``redeemed`` come with the invitation (``check``); without them they are read here.
    """
    if not email_matches(invitation, user):
        return Refusal.WRONG_ACCOUNT
    if not domain_matches(invitation, user):
        return Refusal.WRONG_DOMAIN
    if needs_verified_address(invitation) and user.email_verified_at is None:
        return Refusal.UNVERIFIED
    if member is None or redeemed is None:
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


def unverified_refusal(invitation: Invitation, user: User) -> Refusal | None:
    """``UNVERIFIED`` when ``user`` is the target of the invitation, or at its allowed
    domain, but has not proven the address yet (no query: validate asks this without
    the membership checks). The same judgement as ``user_refusal``'s."""
    if (
        needs_verified_address(invitation)
        and email_matches(invitation, user)
        and domain_matches(invitation, user)
        and user.email_verified_at is None
    ):
        return Refusal.UNVERIFIED
    return None


def check(code: Any, user: User | None = None) -> previews.InvitationPreview:
    """The invitation behind ``code`` if ``user`` (or anyone, if None) could accept it now.

    Raises ``InvitationRefused`` with the first reason that applies: the five
    invitation refusals in order (paused: the invitation, or its whole company),
    then wrong account, then wrong domain, then an unverified address (targeted
    and domain invitations), then already a member, then already used.
    Reads only, in one statement; a GET of the invite page calls this. The
    invitation is a read-only ``previews.InvitationPreview`` (one Core row, no
    ORM), with or without a user; ``accept`` changes it through its conditional
    UPDATE, never through the Session.
    """
    if not well_formed_code(code):
        invitation, member, redeemed = None, None, None
    elif user is None:
        # Anonymous reads (the invite page, validate).
        invitation, member, redeemed = previews.by_code(code), None, None
    else:
        # The invite page signed in, and accept: with the membership and the use, one snapshot.
        invitation, member, redeemed = previews.by_code_for_user(code, user.id)
    reason = refusal(invitation)
    if reason is None and user is not None:
        reason = user_refusal(invitation, user, member, redeemed)
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


def parse_filter(raw: Any) -> Filter:
    """The filter named by ``raw``; anything unknown means all."""
    try:
        return Filter(raw)
    except ValueError:
        return Filter.ALL


#: The longest search the list takes; anything longer is cut (no label or address is longer).
SEARCH_MAX_LENGTH = 254
LIKE_ESCAPE = "\\"


def parse_search(raw: Any) -> str:
    """The dashboard's and the API's search text (``q``): trimmed, one line, bounded; "" for none."""
    if not isinstance(raw, str):
        return ""
    text = "".join(c for c in raw if c.isprintable()).strip()
    return text[:SEARCH_MAX_LENGTH]


def escape_like(text: str) -> str:
    """``text`` for a LIKE pattern: its ``%``, ``_`` and escape character match themselves."""
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


#: SQLite's name for ``str.lower`` (registered on each connection, see ``invites/__init__.py``).
SQLITE_LOWER = "invites_lower"


def sqlite_lower(text: str | None) -> str | None:
    """Python's ``lower()``, every letter's case, for SQLite (whose own folds only A–Z)."""
    return text.lower() if isinstance(text, str) else text


class any_case(FunctionElement):
    """A text for ``ilike`` to compare in any case, every letter's: as it is where ILIKE folds
    every letter (PostgreSQL); ``sqlite_lower`` of it on SQLite, whose ILIKE (``lower() LIKE
    lower()``) leaves ``É`` and ``М`` as they are."""

    inherit_cache = True


@compiles(any_case)
def _any_case_default(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(any_case, "sqlite")
def _any_case_sqlite(element, compiler, **kw):
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"


def search_clause():
    """Label or target email containing ``:pattern`` (any case), or a code starting with ``:prefix``
    (what a card shows as the short code, ``Zx81kQpLm2Vn…``).

    Codes are case-sensitive, so their prefix is compared exactly, the same on both
    databases (LIKE ignores case on SQLite, not on PostgreSQL); an empty prefix (a
    search of ``…`` alone) matches no code.
    """
    pattern = any_case(bindparam("pattern"))
    prefix_length = bindparam("prefix_length", type_=Integer())
    return or_(
        any_case(Invitation.label).ilike(pattern, escape=LIKE_ESCAPE),
        any_case(Invitation.email).ilike(pattern, escape=LIKE_ESCAPE),
        and_(prefix_length > 0, func.substr(Invitation.code, 1, prefix_length) == bindparam("prefix")),
    )


def search_parameters(search: str) -> dict[str, Any]:
    """The bound parameters of ``search_clause`` for what the user typed."""
    prefix = search.removesuffix(ELLIPSIS)
    return {"pattern": f"%{escape_like(search)}%", "prefix": prefix, "prefix_length": len(prefix)}


def _page_statement(which: Filter, searching: bool = False):
    """A page of a company's invitations under one filter, newest first: built once per filter,
    with and without the search."""
    # Core columns, in the order of previews.INVITATION_KEYS: the page is read-only rows.
    query = select(*previews.INVITATION_COLUMNS).where(Invitation.company_id == bindparam("company_id"))
    clause = filter_clause(which, bindparam("now", type_=UTCDateTime()))
    if clause is not None:
        query = query.where(clause)
    if searching:
        query = query.where(search_clause())
    return (
        query.order_by(Invitation.created_at.desc(), Invitation.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


_PAGES = {(which, searching): _page_statement(which, searching) for which in Filter for searching in (False, True)}


def list_for_company(
    company_id: int, which: Filter = Filter.ALL, page: int = 1, per_page: int = 50, search: str = ""
) -> Page[previews.InvitationRow]:
    """A page of the company's invitations, newest first, one query; ``search`` (see
    ``parse_search``) narrows it to labels, addresses and codes that match.

    The items are read-only snapshots of every column (``previews.InvitationRow``): the
    dashboard's cards and the API's list only read them; whatever changes an
    invitation loads its ORM entity (``get_for_company``).
    """
    parameters = {"company_id": company_id, "now": utcnow(), **page_bounds(page, per_page)}
    if search:
        parameters.update(search_parameters(search))
    rows = previews.rows(db.session.connection().execute(_PAGES[which, bool(search)], parameters))
    return page_from(rows, page, per_page, filter=which, search=search)


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


def redemptions_with_roles(invitation: Invitation) -> list[tuple[Redemption, str | None]]:
    """Who used an invitation and when, oldest first, each with their role in its company
    now (None: no longer a member, e.g. removed since)."""
    return list(
        db.session.execute(
            select(Redemption, Membership.role)
            .options(joinedload(Redemption.user))
            .outerjoin(
                Membership,
                and_(Membership.user_id == Redemption.user_id, Membership.company_id == invitation.company_id),
            )
            .where(Redemption.invitation_id == invitation.id)
            .order_by(Redemption.created_at, Redemption.id)
        ).tuples()
    )


def export_rows(company_id: int, which: Filter = Filter.ALL, batch: int = 500, search: str = ""):
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
    parameters = {}
    if search:
        query = query.where(search_clause())
        parameters = search_parameters(search)
    query = query.order_by(Invitation.created_at.desc(), Invitation.id.desc())
    result = db.session.execute(query.execution_options(yield_per=batch), parameters)
    for invitation, creator_email in result:
        yield invitation, creator_email
        # Done with the row: let the identity map forget it, so memory stays flat.
        db.session.expunge(invitation)


def export_redemptions(company_id: int, batch: int = 500):
    """Who joined the company through which invitation and when, oldest first, in batches.

    Rows of (redemption time, user name, user email, invitation code, invitation label),
    read through a server-side cursor on PostgreSQL like ``export_rows``.
    """
    query = (
        select(Redemption.created_at, User.name, User.email, Invitation.code, Invitation.label)
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


def creation_detail(
    max_uses: int,
    expires_in_days: int,
    role: Role = Role.MEMBER,
    allowed_domain: str | None = None,
    label: str | None = None,
) -> str:
    """What the audit trail says of a new invitation (the role, domain and label when set)."""
    parts = [f"max uses {max_uses}", f"expires in {expires_in_days} days"]
    if role is not Role.MEMBER:
        parts.append(f"joins as {role.value.capitalize()}")
    if allowed_domain:
        parts.append(f"for @{allowed_domain} addresses")
    if label:
        parts.append(f"label {label}")
    return ", ".join(parts)


def new_code() -> str:
    """An unguessable, URL-safe invitation code."""
    return secrets.token_urlsafe(CODE_BYTES)


def _role_in(user_id: int, company_id: int) -> Role | None:
    """The user's role in the company, or None when they are not a member."""
    role = db.session.execute(
        select(Membership.role).where(Membership.user_id == user_id, Membership.company_id == company_id)
    ).scalar_one_or_none()
    return Role(role) if role is not None else None


def _code_taken(code: str) -> bool:
    """True if an invitation already has this code."""
    return db.session.execute(select(Invitation.id).where(Invitation.code == code)).first() is not None


def create(
    company_id: int, creator: User, new: NewInvitation, creator_role: Role | None = None, attempts: int = 5
) -> Invitation:
    """Store a new invitation and its audit row; a code collision retries with a new code.

    An invitation that grants ADMIN needs an OWNER (``check_grant``): ``GrantRefused``
    otherwise, before anything is written. ``creator_role`` is the creator's role in the
    company when the caller knows it; else it is read here (only for such an invitation).
    """
    if new.role is not Role.MEMBER:
        actor_role = creator_role or _role_in(creator.id, company_id)
        if actor_role is None:  # not in the company at all
            raise GrantRefused(ADMIN_ROLE_ERROR)
        check_grant(new.role, actor_role)
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
            role=new.role.value,
            allowed_domain=new.allowed_domain,
            label=new.label,
        )
        db.session.add(invitation)
        try:
            db.session.flush()
            audit.record(
                audit.Action.CREATE,
                company_id=company_id,
                actor_id=creator.id,
                invitation=invitation,
                detail=creation_detail(new.max_uses, new.expires_in_days, new.role, new.allowed_domain, new.label),
            )
            if invitation.email is not None:
                # The invitation email is committed with the invitation, or not at all.
                queue_invitation_email(invitation, EmailKind.INVITATION, inviter=creator)
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
    otherwise: Refusal | None = Refusal.FULL,
) -> InvitationRefused | None:
    """After a conditional UPDATE matched nothing: ask the database why, in the documented order.

    ``considered`` are the conditions that UPDATE tested. The database judges
    expiry by its own clock, as the UPDATE did, so the answer agrees with the
    decision even if the app server's clock is off. ``otherwise`` answers when
    none holds any more: only a pause can be undone, so that means a pause
    that was started again in between (None: nothing stood in the way).
    """
    invitation_id = invitation.id  # read before the rollback expires it
    db.session.rollback()
    row = db.session.execute(
        select(
            Invitation.revoked_at.is_not(None),
            Invitation.expires_at <= db_now(),
            Invitation.used_count >= Invitation.max_uses,
            or_(not_(Invitation.is_active), Company.invitations_paused_at.is_not(None)),
        )
        .join(Company, Company.id == Invitation.company_id)
        .where(Invitation.id == invitation_id)
    ).first()
    if row is None:
        return InvitationRefused(Refusal.NOT_FOUND)
    if isinstance(invitation, Invitation):
        db.session.refresh(invitation)
    elif isinstance(invitation, previews.InvitationRow):  # pause or start's row: read again, in place
        vars(invitation).update(vars(row_for_company(invitation_id, invitation.company_id)))
    else:  # accept's read-only snapshot (previews): read again, in place, as refresh does
        vars(invitation).update(vars(previews.by_code(invitation.code)))
    holding = [reason for reason, flag in zip(_CLOSED, row, strict=True) if flag and reason in considered]
    if holding:
        return InvitationRefused(holding[0], invitation)
    return None if otherwise is None else InvitationRefused(otherwise, invitation)


# What a change's UPDATE returns: every column a card, the API or the refusal shows,
# so the invitation is brought up to date from it rather than read again.
_RETURNED = (
    Invitation.is_active,
    Invitation.revoked_at,
    Invitation.used_count,
    Invitation.max_uses,
    Invitation.expires_at,
    Invitation.status,
)


def _apply(invitation: Invitation | previews.InvitationPreview, row) -> None:
    """Set what an UPDATE … RETURNING gave as the invitation's loaded (not pending) values
    (on accept's read-only snapshot, its attributes)."""
    keep = set_committed_value if isinstance(invitation, Invitation) else setattr
    for column, value in zip(_RETURNED, row, strict=True):
        keep(invitation, column.key, value)


def _commit_keeping_loaded() -> None:
    """Commit without expiring what this request loaded.

    The changed invitation was brought up to date from its UPDATE's RETURNING;
    expiring it would only read the same row again when the answer is built.
    """
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _set_active_statement(active: bool | None):
    """Pause (False), start (True) or toggle (None): built once each.

    Pause and start match nothing when the invitation is already in that state.
    """
    where = _changeable(bindparam("invitation_id"))
    if active is not None:
        where = and_(where, Invitation.is_active.is_not(active))
    if active is not False:
        # Starting one that grants ADMIN needs an actor who may grant ADMIN (``may_start``),
        # judged on the row as the UPDATE finds it: an owner changing its role to ADMIN while
        # an admin presses Start cannot let the Start through.
        may_start_admin = or_(Invitation.role != Role.ADMIN.value, bindparam("may_grant_admin", type_=Boolean))
        where = and_(where, may_start_admin if active else or_(Invitation.is_active, may_start_admin))
    return (
        update(Invitation)
        .where(where)
        .values(is_active=not_(Invitation.is_active) if active is None else active)
        .returning(*_RETURNED)
        .execution_options(synchronize_session=False)
    )


_SET_ACTIVE = {active: _set_active_statement(active) for active in (True, False, None)}


def _set_active_statement_postgresql(active: bool | None):
    """PostgreSQL: ``_set_active_statement`` and its audit row in one statement, as accept's.

    A data-modifying CTE: the INSERT selects from the UPDATE's RETURNING, so when
    the UPDATE matches nothing no audit row is written and no row comes back. The
    action (start or pause) is the state the row was given.
    """
    changed = (
        _set_active_statement(active)
        .returning(Invitation.id.label("invitation_id"), Invitation.company_id.label("invitation_company_id"))
        .cte("changed")
    )
    event = (
        insert(audit.AuditEvent.__table__)
        .from_select(
            ["company_id", "actor_id", "action", "invitation_id", "invitation_short_code", "created_at"],
            select(
                changed.c.invitation_company_id,
                bindparam("actor_id"),
                case((changed.c.is_active, literal(audit.Action.START.value)), else_=literal(audit.Action.PAUSE.value)),
                changed.c.invitation_id,
                bindparam("short_code"),
                bindparam("now", type_=UTCDateTime()),
            ),
        )
        .cte("event")
    )
    return select(*(changed.c[column.key] for column in _RETURNED)).add_cte(event)


_SET_ACTIVE_POSTGRESQL = {active: _set_active_statement_postgresql(active) for active in (True, False, None)}


def set_active(
    invitation: Invitation | previews.InvitationRow, actor: User, active: bool | None = None, *, actor_role: Role
) -> Invitation | previews.InvitationRow:
    """Pause (False), start (True) or toggle (None) an invitation that can still be used.

    Starting one that grants ADMIN is for whoever may grant ADMIN (``may_start``,
    ``actor_role`` is the actor's role in its company): otherwise ``GrantRefused``
    (``START_ADMIN_ERROR``), nothing changed. The same UPDATE decides that too.

    One UPDATE decides, so two admins pausing at once both see it paused, and
    an invitation that filled up or was revoked meanwhile is refused. Asking
    for the state it is already in (a second tab, a double click) changes
    nothing: no audit row, so no other dashboard is sent the card again.
    ``invitation`` may be the ORM entity or a read-only row (``row_for_company``):
    either is brought up to date from the UPDATE's RETURNING.
    """
    # On the Session's connection: a plain UPDATE … RETURNING, without the ORM's bulk-update
    # machinery (the identity map is not synchronised anyway; _apply sets what came back).
    connection = db.session.connection()
    postgresql = connection.dialect.name == "postgresql"
    may_grant_admin = may_grant(Role.ADMIN, actor_role)
    if postgresql:  # the UPDATE and its audit row in one statement
        row = connection.execute(
            _SET_ACTIVE_POSTGRESQL[active],
            {
                "invitation_id": invitation.id,
                "actor_id": actor.id,
                "short_code": short_code(invitation.code),
                "now": utcnow(),
                "may_grant_admin": may_grant_admin,
            },
        ).first()
    else:
        row = connection.execute(
            _SET_ACTIVE[active], {"invitation_id": invitation.id, "may_grant_admin": may_grant_admin}
        ).first()
    if row is None:
        refused = _refusal_after_failed_update(
            invitation, considered=(Refusal.REVOKED, Refusal.EXPIRED, Refusal.FULL), otherwise=None
        )
        if refused is not None:
            raise refused
        # Read again above: still paused and granting ADMIN, so the UPDATE refused the Start.
        if active is not False and not invitation.is_active and not may_start(invitation, actor_role):
            raise GrantRefused(START_ADMIN_ERROR)
        return invitation
    _apply(invitation, row)
    if postgresql:
        _commit_keeping_loaded()
        return invitation
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
        .returning(*_RETURNED)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        raise _refusal_after_failed_update(invitation, considered=(Refusal.REVOKED, Refusal.FULL))
    _apply(invitation, row)
    return _commit_change(invitation, actor, audit.Action.REVOKE)


# What an edit's UPDATE returns: the change's columns and the edited fields.
_EDIT_RETURNED = (*_RETURNED, Invitation.role, Invitation.allowed_domain, Invitation.label, Invitation.version)


def _edit_values(invitation: Invitation, changes: InvitationEdit) -> dict[str, Any]:
    """The columns ``changes`` really changes on ``invitation`` as loaded (none: a no-op)."""
    wanted = changes.given()
    values: dict[str, Any] = {}
    if "max_uses" in wanted and wanted["max_uses"] != invitation.max_uses:
        values["max_uses"] = wanted["max_uses"]
    if "expires_in_days" in wanted:
        values["expires_at"] = utcnow() + timedelta(days=wanted["expires_in_days"])
    if "role" in wanted and wanted["role"].value != invitation.role:
        values["role"] = wanted["role"].value
    for name in ("allowed_domain", "label"):
        if name in wanted and wanted[name] != getattr(invitation, name):
            values[name] = wanted[name]
    return values


def edit_detail(invitation: Invitation, values: dict[str, Any]) -> str:
    """What the audit trail says of an edit: each changed field, before → after."""

    def shown(value: Any) -> str:
        if value is None:
            return "none"
        if isinstance(value, datetime):
            return value.date().isoformat()
        return str(value)

    names = {
        "max_uses": "max uses",
        "expires_at": "expires",
        "role": "role",
        "allowed_domain": "allowed domain",
        "label": "label",
    }
    return "; ".join(
        f"{label} {shown(getattr(invitation, name))} → {shown(values[name])}"
        for name, label in names.items()
        if name in values
    )


def edit(
    invitation: Invitation,
    actor: User,
    actor_role: Role,
    changes: InvitationEdit,
    expected_version: int | None = None,
) -> bool:
    """Change an invitation's max uses, expiry, role, allowed domain or label; audited.
    True when something changed (``invitation`` is brought up to date), False when the
    edit asked for what it already was.

    Refused, in this order: revoked or expired (``InvitationRefused``, the card
    as it is now); ``expected_version`` given and no longer the row's
    (``Refusal.CHANGED_MEANWHILE``); an admin making, or touching, an invitation that
    grants ADMIN (``GrantRefused``); max uses below the uses already made, or a
    domain on an invitation with a target email (``InvalidInvitation``). Max uses
    lowered to the uses made closes the invitation (fully used, like the last accept).

    One conditional UPDATE decides, judged by the database's clock and the row as it
    is then (its version, role and use count); it moves ``version`` by one. When it
    matches nothing, the reason is read back in the order above. Without
    ``expected_version`` the last edit wins. An edit that changes nothing writes
    nothing (no audit row, no new version).
    """
    owner = actor_role is Role.OWNER
    refused = edit_refusal(invitation)
    if refused is not None:
        raise refused
    if expected_version is not None and expected_version != invitation.version:
        raise InvitationRefused(Refusal.CHANGED_MEANWHILE, invitation)
    if not may_edit(invitation, actor_role):
        raise GrantRefused()
    if isinstance(changes.role, Role):
        check_grant(changes.role, actor_role)
    values = _edit_values(invitation, changes)
    if "max_uses" in values and values["max_uses"] < invitation.used_count:
        raise InvalidInvitation({"max_uses": USED_MORE_ERROR.format(used=invitation.used_count)})
    if invitation.email is not None and values.get("allowed_domain") is not None:
        raise InvalidInvitation({"allowed_domain": DOMAIN_WITH_EMAIL_ERROR})
    if not values:
        return False
    detail = edit_detail(invitation, values)
    where = [Invitation.id == invitation.id, Invitation.revoked_at.is_(None), Invitation.expires_at > db_now()]
    if expected_version is not None:
        where.append(Invitation.version == expected_version)
    if not owner:
        where.append(Invitation.role != Role.ADMIN.value)
    assigned = dict(values, version=Invitation.version + 1)
    if "max_uses" in values:
        where.append(Invitation.used_count <= values["max_uses"])
        assigned["status"] = case(
            (Invitation.used_count >= values["max_uses"], InvitationStatus.ACCEPTED.value),
            else_=InvitationStatus.PENDING.value,
        )
    if values.get("allowed_domain") is not None:
        where.append(Invitation.email.is_(None))
    row = db.session.execute(
        update(Invitation)
        .where(*where)
        .values(**assigned)
        .returning(*_EDIT_RETURNED)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        raise _edit_refusal(invitation, values, expected_version, owner)
    for column, value in zip(_EDIT_RETURNED, row, strict=True):
        set_committed_value(invitation, column.key, value)
    audit.insert_now(
        audit.Action.EDIT,
        company_id=invitation.company_id,
        actor_id=actor.id,
        invitation_id=invitation.id,
        invitation_short_code=short_code(invitation.code),
        detail=detail,
    )
    _commit_keeping_loaded()
    return True


def _edit_refusal(
    invitation: Invitation, values: dict[str, Any], expected_version: int | None, owner: bool
) -> Exception:
    """After an edit's UPDATE matched nothing: why, read back from the row as it is now."""
    invitation_id = invitation.id  # read before the rollback expires it
    db.session.rollback()
    row = db.session.execute(
        select(
            Invitation.revoked_at.is_not(None).label("revoked"),
            (Invitation.expires_at <= db_now()).label("expired"),
            Invitation.version,
            Invitation.role,
            Invitation.used_count,
            Invitation.email,
        ).where(Invitation.id == invitation_id)
    ).first()
    if row is None:
        return InvitationRefused(Refusal.NOT_FOUND)
    db.session.refresh(invitation)
    if row.revoked:
        return InvitationRefused(Refusal.REVOKED, invitation)
    if row.expired:
        return InvitationRefused(Refusal.EXPIRED, invitation)
    if expected_version is not None and row.version != expected_version:
        return InvitationRefused(Refusal.CHANGED_MEANWHILE, invitation)
    if not owner and row.role == Role.ADMIN.value:
        return GrantRefused()
    if "max_uses" in values and row.used_count > values["max_uses"]:
        return InvalidInvitation({"max_uses": USED_MORE_ERROR.format(used=row.used_count)})
    if values.get("allowed_domain") is not None and row.email is not None:
        return InvalidInvitation({"allowed_domain": DOMAIN_WITH_EMAIL_ERROR})
    return InvitationRefused(Refusal.CHANGED_MEANWHILE, invitation)


# --- pause all -------------------------------------------------------------------


@dataclass(frozen=True)
class PauseAll:
    """Where the company's "pause all" switch stands after a call, and whether it moved."""

    paused_at: datetime | None
    changed: bool

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


def _switch_pause_all(company_id: int, actor: User, pause: bool) -> PauseAll:
    """Set (pause) or clear (resume) ``companies.invitations_paused_at`` in one UPDATE; audited once.

    The UPDATE matches nothing when the switch is already where it was asked to be
    (a second tab, a double click): nothing is written then, no audit row either.
    """
    now = utcnow()
    is_set = Company.invitations_paused_at.is_not(None)
    row = db.session.execute(
        update(Company)
        .where(Company.id == company_id, not_(is_set) if pause else is_set)
        .values(invitations_paused_at=now if pause else None)
        .returning(Company.invitations_paused_at)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        db.session.rollback()
        paused_at = db.session.scalar(select(Company.invitations_paused_at).where(Company.id == company_id))
        return PauseAll(paused_at=paused_at, changed=False)
    audit.insert_now(
        audit.Action.PAUSE_ALL if pause else audit.Action.RESUME_ALL,
        company_id=company_id,
        actor_id=actor.id,
        at=now,
    )
    db.session.commit()
    return PauseAll(paused_at=row[0], changed=True)


def pause_all(company_id: int, actor: User) -> PauseAll:
    """Stop every invitation of the company from being used, at once, until ``resume_all``.

    Each invitation keeps its own ``is_active``: what was paused stays paused on
    resume, and what was started is usable again.
    """
    return _switch_pause_all(company_id, actor, pause=True)


def resume_all(company_id: int, actor: User) -> PauseAll:
    """Undo ``pause_all``: each invitation is as usable as its own state says again."""
    return _switch_pause_all(company_id, actor, pause=False)


def _commit_change(invitation: Invitation, actor: User, action: audit.Action) -> Invitation:
    """Record an admin's change in the audit trail and commit both; the invitation is up to date."""
    audit.insert_now(
        action,
        company_id=invitation.company_id,
        actor_id=actor.id,
        invitation_id=invitation.id,
        invitation_short_code=short_code(invitation.code),
    )
    _commit_keeping_loaded()
    return invitation


@dataclass(frozen=True)
class Acceptance:
    """The result of a successful accept."""

    invitation: Invitation
    company: Company
    membership: Membership


_invitations = Invitation.__table__
_companies = Company.__table__


def _use_one_place_statement(postgresql: bool):
    """One use of an invitation: the conditional UPDATE whose row count decides,
    judged by the database's clock at that moment. SET sees the row as it was,
    so "+ 1" is the count after this use. It returns the invitation's new values
    and the role it grants, which the membership takes.

    Besides the invitation's own state, it requires the user's domain (an
    invitation limited to a domain, perhaps changed a moment ago) and a company
    whose invitations are not all paused. On PostgreSQL the company's row is
    read ``FOR SHARE``: "Pause all" updates that row, so it waits for the uses
    in flight to commit, and a use that comes after it waits for it and then sees
    it. No use commits after the pause has (SQLite: one writer at a time).
    """
    open_company = select(_companies.c.id).where(
        _companies.c.id == bindparam("invitation_company_id"), _companies.c.invitations_paused_at.is_(None)
    )
    if postgresql:
        open_company = open_company.with_for_update(read=True).cte("open_company")
        open_company = select(open_company.c.id)
    return (
        update(_invitations)
        .where(
            _invitations.c.id == bindparam("invitation_id"),
            _invitations.c.is_active,
            _invitations.c.revoked_at.is_(None),
            _invitations.c.expires_at > db_now(),
            _invitations.c.used_count < _invitations.c.max_uses,
            or_(_invitations.c.allowed_domain.is_(None), _invitations.c.allowed_domain == bindparam("user_domain")),
            _invitations.c.company_id.in_(open_company),
        )
        .values(
            used_count=_invitations.c.used_count + 1,
            status=case(
                (_invitations.c.used_count + 1 >= _invitations.c.max_uses, InvitationStatus.ACCEPTED.value),
                else_=_invitations.c.status,
            ),
        )
        .returning(*(_invitations.c[column.key] for column in _RETURNED), _invitations.c.role)
    )


_USE_ONE_PLACE = _use_one_place_statement(postgresql=False)
_INSERT_REDEMPTION = insert(Redemption.__table__)
_INSERT_MEMBERSHIP = insert(Membership.__table__).returning(Membership.__table__.c.id)
_INSERT_EVENT = insert(audit.AuditEvent.__table__)


def _accept_statement_postgresql():
    """PostgreSQL: the UPDATE, the redemption, the membership and the audit row in one statement.

    Data-modifying CTEs: each INSERT selects from the UPDATE's RETURNING, so
    when the UPDATE matches nothing nothing is inserted and no row comes back;
    a UNIQUE violation fails the whole statement, and the use with it. The
    membership's role is the one the updated invitation row grants.
    """
    now = bindparam("now", type_=UTCDateTime())
    user_id = bindparam("user_id")
    used = _use_one_place_statement(postgresql=True).returning(_invitations.c.id, _invitations.c.company_id).cte("used")
    redemption = _INSERT_REDEMPTION.from_select(
        ["invitation_id", "user_id", "role", "created_at"], select(used.c.id, user_id, used.c.role, now)
    ).cte("redemption")
    membership = (
        insert(Membership.__table__)
        .from_select(
            ["user_id", "company_id", "role", "invitation_id", "created_at"],
            select(user_id, used.c.company_id, used.c.role, used.c.id, now),
        )
        .returning(Membership.__table__.c.id)
        .cte("membership")
    )
    event = _INSERT_EVENT.from_select(
        ["company_id", "actor_id", "action", "invitation_id", "invitation_short_code", "subject_user_id", "created_at"],
        select(
            used.c.company_id,
            user_id,
            literal(audit.Action.ACCEPT.value),
            used.c.id,
            bindparam("short_code"),
            user_id,
            now,
        ),
    ).cte("event")
    return (
        select(
            *(used.c[column.key] for column in _RETURNED),
            used.c.role,
            membership.c.id.label("membership_id"),
        )
        .select_from(used.join(membership, true()))
        .add_cte(redemption, event)
    )


_ACCEPT_POSTGRESQL = _accept_statement_postgresql()


def _use_one_place(invitation: Invitation, user: User, now: datetime):
    """Write one use: the invitation's new values, the role granted and the membership's id,
    or None if the UPDATE matched nothing. A UNIQUE violation raises ``IntegrityError``.

    PostgreSQL does it in one statement; SQLite (no data-modifying CTEs) in four
    Core statements in one transaction, built before and sent back to back, so
    that its write lock is held for as short a time as possible.
    """
    connection = db.session.connection()
    use = {
        "invitation_id": invitation.id,
        "invitation_company_id": invitation.company_id,
        "user_domain": domain_of(normalise_email(user.email)),
    }
    if connection.dialect.name == "postgresql":
        row = connection.execute(
            _ACCEPT_POSTGRESQL, {**use, "user_id": user.id, "now": now, "short_code": short_code(invitation.code)}
        ).first()
        return (row[: len(_RETURNED)], row.role, row.membership_id) if row is not None else None
    event = {
        "company_id": invitation.company_id,
        "actor_id": user.id,
        "action": audit.Action.ACCEPT.value,
        "invitation_id": invitation.id,
        "invitation_short_code": short_code(invitation.code),
        "subject_user_id": user.id,
        "detail": None,
        "created_at": now,
    }
    row = connection.execute(_USE_ONE_PLACE, use).first()
    if row is None:
        return None
    redemption = {"invitation_id": invitation.id, "user_id": user.id, "role": row.role, "created_at": now}
    membership = {
        "user_id": user.id,
        "company_id": invitation.company_id,
        "role": row.role,
        "invitation_id": invitation.id,
        "created_at": now,
    }
    connection.execute(_INSERT_REDEMPTION, redemption)
    membership_id = connection.execute(_INSERT_MEMBERSHIP, membership).scalar_one()
    connection.execute(_INSERT_EVENT, event)
    return row[: len(_RETURNED)], row.role, membership_id


def accept(code: Any, user: User) -> Acceptance:
    """Use one place on the invitation for ``user`` and make them what it grants (MEMBER or
    ADMIN), atomically.

    The counter moves only through one conditional UPDATE, evaluated by the
    database at that moment (active, not revoked, not expired, not full, the
    user's domain if it is limited to one, its company not paused); its row
    count decides. The redemption and the membership (with the role the
    updated row grants) are inserted in the same transaction, each guarded by a
    UNIQUE constraint, so a user who is already in (or who clicks twice at
    once) rolls the whole thing back and the use is given back. The audit row
    goes in the same transaction.
    """
    invitation = check(code, user)
    now = utcnow()
    try:
        written = _use_one_place(invitation, user, now)
        if written is None:
            refused = _refusal_after_failed_update(invitation, otherwise=None)
            if refused is None:
                # Nothing of the invitation's own state: its domain changed meanwhile,
                # or it was paused and started again in between.
                reason = Refusal.PAUSED if domain_matches(invitation, user) else Refusal.WRONG_DOMAIN
                refused = InvitationRefused(reason, invitation)
            raise refused
        _commit_keeping_loaded()
    except IntegrityError:
        # Another request of this user won the race (or they joined meanwhile):
        # the rollback gives the use back; say which of the two it was.
        db.session.rollback()
        reason = user_refusal(invitation, user) or Refusal.ALREADY_MEMBER
        raise InvitationRefused(reason, invitation) from None
    row, role, membership_id = written
    _apply(invitation, row)
    membership = Membership(
        id=membership_id,
        user_id=user.id,
        company_id=invitation.company_id,
        role=role,
        invitation_id=invitation.id,
        created_at=now,
    )
    return Acceptance(invitation=invitation, company=invitation.company, membership=membership)


# --- the invitation email ------------------------------------------------------

#: Where the invite page keeps the token of an invitation email's link, for sign-up.
TOKEN_SESSION_KEY = "invitation_email_token"
RESENDS_PER_DAY = 3
RESEND_LIMIT = f"This invitation's email was already sent again {RESENDS_PER_DAY} times in the last 24 hours."
NOT_TARGETED = "This invitation has no email address to send to."


class ResendLimitReached(Exception):
    """More resends of one invitation's email in 24 hours than ``RESENDS_PER_DAY``."""

    message = RESEND_LIMIT

    def __init__(self, retry_after: int):
        self.retry_after = max(int(retry_after), 1)
        super().__init__(self.message)


def email_subject(invitation: Invitation, inviter: User | None = None) -> str:
    inviter = inviter or invitation.creator
    return f"{inviter.name} invited you to join {invitation.company.name}"


def queue_invitation_email(invitation: Invitation, kind: EmailKind, inviter: User | None = None) -> None:
    """Add the invitation email (first send, resend or reminder) to the current transaction.

    Its link carries a signed token for the target address: whoever follows it
    has shown they read that mailbox.
    """
    inviter = inviter or invitation.creator
    company = invitation.company or db.session.get(Company, invitation.company_id)
    link = outbox.absolute_url("invite.show", code=invitation.code, t=outbox.invite_token(invitation))
    subject = email_subject(invitation, inviter)
    if kind is EmailKind.REMINDER:
        subject = f"Reminder: {subject}"
    outbox.queue_email(
        kind,
        invitation.email,
        subject,
        "invitation",
        invitation_id=invitation.id,
        inviter=inviter.name,
        company=company.name,
        spots_left=remaining_uses(invitation),
        expires_at=invitation.expires_at,
        link=link,
        target=invitation.email,
        reminder=kind is EmailKind.REMINDER,
    )
    invitation.email_state = "queued"
    invitation.email_state_at = utcnow()
    invitation.email_error = None


def proven_email(token: Any, code: Any) -> str | None:
    """The target address an invitation email's token proves, if it is for the invitation ``code``."""
    invitation = find_by_code(code)
    return proven_email_of(invitation, token) if invitation is not None else None


def proven_email_of(invitation: Invitation, token: Any) -> str | None:
    """The target address of ``invitation`` if ``token`` (from its email's link) proves it, else None."""
    payload = tokens.read(tokens.Purpose.INVITE, token)
    if payload is None or invitation.email is None or invitation.id != payload.get("i"):
        return None
    return invitation.email if payload.get("e") == invitation.email else None


def resend(invitation: Invitation, actor: User) -> Invitation:
    """Send the invitation email again, if the invitation can still be used; audited.

    Refused (``InvitationRefused``) when it is revoked, expired, full or paused (on its
    own, or with all of its company's), or has no target address (``ValueError``); at most ``RESENDS_PER_DAY`` in 24 hours
    (``ResendLimitReached``). The UPDATE that marks the card "queued" comes first,
    so two admins resending at once are counted one after the other.
    """
    if invitation.email is None:
        raise ValueError(NOT_TARGETED)
    now = utcnow()
    row = db.session.execute(
        update(Invitation)
        .where(
            _changeable(invitation.id),
            Invitation.is_active,
            # "Join here" for an invitation nobody can use while all are paused: no.
            Invitation.company_id.in_(
                select(Company.id).where(Company.id == invitation.company_id, Company.invitations_paused_at.is_(None))
            ),
        )
        .values(email_state="queued", email_state_at=now, email_error=None)
        .returning(Invitation.id)
    ).first()
    if row is None:
        raise _refusal_after_failed_update(invitation, otherwise=Refusal.PAUSED)
    window = timedelta(hours=24)
    recent = list(
        db.session.execute(
            select(OutboxEmail.created_at)
            .where(
                OutboxEmail.invitation_id == invitation.id,
                OutboxEmail.kind == EmailKind.RESEND.value,
                OutboxEmail.created_at > now - window,
            )
            .order_by(OutboxEmail.created_at.desc())
            .limit(RESENDS_PER_DAY)
        ).scalars()
    )
    if len(recent) >= RESENDS_PER_DAY:
        db.session.rollback()
        db.session.refresh(invitation)
        # The oldest of the last few leaves the 24-hour window first.
        raise ResendLimitReached((recent[-1] + window - now).total_seconds())
    db.session.refresh(invitation)
    queue_invitation_email(invitation, EmailKind.RESEND)
    audit.record(
        audit.Action.EMAIL_RESEND,
        company_id=invitation.company_id,
        actor_id=actor.id,
        invitation=invitation,
        detail=invitation.email,
    )
    db.session.commit()
    db.session.refresh(invitation)
    return invitation


def can_resend(invitation: Invitation, now: datetime | None = None) -> bool:
    """Resend email is offered on a targeted invitation that can be used now."""
    return invitation.email is not None and refusal(invitation, now) is None


# --- removing who joined through an invitation ----------------------------------------

#: Roles by rank: a member whose role now ranks above the one the invitation granted was given it since.
ROLE_RANK = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}
KEPT_OWNER = "is an Owner"
KEPT_PROMOTED = "was made {role} since"
KEPT_ADMIN = "is an Admin: only an owner can remove Admins"
# A role that changed between the removal's DELETE and the read of who is left.
KEPT_CHANGED = "had their role changed during the removal"
# Used this invitation, left (or was removed), and is a member again through something else:
# their membership is not this invitation's, so a removal through it neither counts nor removes them.
KEPT_REJOINED = "left and joined again through another invitation, so they are not counted"
KEPT_ADDED_AGAIN = "left and was added again without this invitation, so they are not counted"


@dataclass(frozen=True)
class Joiner:
    """Someone who joined through an invitation and is still (or was, until removed) a member."""

    user_id: int
    name: str
    email: str
    role: Role
    #: Why a removal keeps them (``KEPT_*``); None: a removal removes them.
    kept_because: str | None = None


@dataclass(frozen=True)
class MembersRemoval:
    """What ``remove_members`` did, or (``removal_plan``) would do."""

    invitation: Invitation
    removed: list[Joiner]
    kept: list[Joiner]
    #: True when this removal revoked the invitation (False: it was revoked already).
    revoked: bool = False
    #: (plan only) who used the invitation and is a member again through another membership
    #: (``KEPT_REJOINED``, ``KEPT_ADDED_AGAIN``): shown with why, counted in neither list.
    not_through_it: list[Joiner] = field(default_factory=list)

    @property
    def not_through_it_reasons(self) -> dict[int, str]:
        """Why each member who is not counted is not, by user id."""
        return {j.user_id: j.kept_because for j in self.not_through_it}

    @property
    def kept_reasons(self) -> dict[int, str]:
        """Why each kept member is kept, by user id."""
        return {j.user_id: j.kept_because for j in self.kept}


def kept_because(role: Role, granted: Role, actor_role: Role) -> str | None:
    """Why a removal through an invitation that granted ``granted`` keeps a member whose role is
    now ``role``, when ``actor_role`` removes; None when it removes them.

    Never an owner (so never the last one); never someone given a higher role since;
    an admin removes members only, as only an owner grants (or removes) the Admin role.
    """
    if role is Role.OWNER:
        return KEPT_OWNER
    if ROLE_RANK[role] > ROLE_RANK[granted]:
        return KEPT_PROMOTED.format(role=role.value.title())
    if role is Role.ADMIN and actor_role is not Role.OWNER:
        return KEPT_ADMIN
    return None


def removable_roles(granted: Role, actor_role: Role) -> list[str]:
    """The membership roles the removal's DELETE may match: those ``kept_because`` keeps not."""
    return [role.value for role in Role if kept_because(role, granted, actor_role) is None]


def _redeemers_who_are_members(invitation: Invitation, membership_of):
    """Who redeemed ``invitation`` and holds the membership ``membership_of`` names, in the
    order they joined: id, name, email, the membership's role, the role their use granted
    (``granted``) and the invitation that made the membership."""
    return db.session.execute(
        select(
            User.id,
            User.name,
            User.email,
            Membership.role,
            Redemption.role.label("granted"),
            Membership.invitation_id,
        )
        .select_from(Redemption)
        .join(User, User.id == Redemption.user_id)
        .join(Membership, and_(Membership.user_id == Redemption.user_id, membership_of))
        .where(Redemption.invitation_id == invitation.id)
        .order_by(Redemption.created_at, Redemption.id)
    ).all()


def _joiners_still_members(invitation: Invitation):
    """Who is a member of its company through this invitation (the accept that made their
    membership was of this invitation): someone who left and came back through another
    invitation is not."""
    return _redeemers_who_are_members(invitation, Membership.invitation_id == invitation.id)


def _joiner(row, actor_role: Role) -> Joiner:
    role = Role(row.role)
    return Joiner(row.id, row.name, row.email, role, kept_because(role, Role(row.granted), actor_role))


def removal_plan(invitation: Invitation, actor_role: Role) -> MembersRemoval:
    """Who ``remove_members`` would remove and keep (and why) if ``actor_role`` asked now.

    Reads only, in one query: the confirmation names these numbers. Who has left already
    counts in neither; who left and is a member again through something other than this
    invitation counts in neither either, and is listed in ``not_through_it`` with why.
    """
    rows = _redeemers_who_are_members(invitation, Membership.company_id == invitation.company_id)
    joiners = [_joiner(row, actor_role) for row in rows if row.invitation_id == invitation.id]
    return MembersRemoval(
        invitation=invitation,
        removed=[j for j in joiners if j.kept_because is None],
        kept=[j for j in joiners if j.kept_because is not None],
        not_through_it=[
            Joiner(
                row.id,
                row.name,
                row.email,
                Role(row.role),
                KEPT_ADDED_AGAIN if row.invitation_id is None else KEPT_REJOINED,
            )
            for row in rows
            if row.invitation_id != invitation.id
        ],
    )


def remove_members(invitation: Invitation, actor: User, actor_role: Role) -> MembersRemoval:
    """Remove from the company everyone who joined through ``invitation``, and revoke it.

    A leaked link is why one does this, so the invitation is revoked first, in the
    same transaction (a fully used one too): an accept racing this one either
    committed before (its member is then removed here) or is refused as revoked.

    Then one conditional DELETE removes the memberships this invitation's accepts
    made (``Membership.invitation_id``: not one its user has since through another
    invitation) whose role is still one ``removable_roles`` allows against the role
    that member's own use granted (``Redemption.role``; never OWNER, never above
    it, even if the invitation's role was edited since). The database judges each
    role as the row is deleted, so a member promoted meanwhile is kept; the rows it
    returns are the members removed, each audited (MEMBER_REMOVE, naming the
    invitation) and signed out everywhere, as a removal from the members page does.
    Whoever is left is listed as kept, with why; who had already left counts as
    neither. Redemptions stay: they are the history.
    """
    company_id, invitation_id = invitation.company_id, invitation.id
    short = short_code(invitation.code)
    revoked_row = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(*_RETURNED)
        .execution_options(synchronize_session=False)
    ).first()
    memberships = Membership.__table__
    # Each member is judged against the role their own use granted (the invitation's
    # role may have been edited since), as their row is deleted.
    granted_by_use = [
        and_(
            memberships.c.role.in_(removable_roles(granted, actor_role)),
            exists().where(
                Redemption.invitation_id == invitation_id,
                Redemption.user_id == memberships.c.user_id,
                Redemption.role == granted.value,
            ),
        )
        for granted in GRANTABLE_ROLES
    ]
    removed_rows = db.session.execute(
        memberships.delete()
        .where(
            memberships.c.company_id == company_id,
            memberships.c.invitation_id == invitation_id,
            or_(*granted_by_use),
        )
        .returning(memberships.c.user_id, memberships.c.role)
    ).all()
    roles = {row.user_id: Role(row.role) for row in removed_rows}
    people = (
        db.session.execute(
            select(User.id, User.name, User.email)
            .join(Redemption, and_(Redemption.user_id == User.id, Redemption.invitation_id == invitation_id))
            .where(User.id.in_(list(roles)))
            .order_by(Redemption.created_at, Redemption.id)
        ).all()
        if roles
        else []
    )
    removed = [Joiner(row.id, row.name, row.email, roles[row.id]) for row in people]
    now = utcnow()
    if revoked_row is not None:
        audit.insert_now(
            audit.Action.REVOKE,
            company_id=company_id,
            actor_id=actor.id,
            invitation_id=invitation_id,
            invitation_short_code=short,
            detail=f"to remove who joined through it: {len(removed)} removed",
            at=now,
        )
    for joiner in removed:
        audit.insert_now(
            audit.Action.MEMBER_REMOVE,
            company_id=company_id,
            actor_id=actor.id,
            invitation_id=invitation_id,
            invitation_short_code=short,
            subject_user_id=joiner.user_id,
            detail="joined through this invitation",
            at=now,
        )
        # The removed member's open sessions end with the removal, as on the members page.
        end_sessions(joiner.user_id)
    kept = []
    for row in _joiners_still_members(invitation):
        joiner = _joiner(row, actor_role)
        kept.append(joiner if joiner.kept_because else replace(joiner, kept_because=KEPT_CHANGED))
    if revoked_row is not None:
        _apply(invitation, revoked_row)
        _commit_keeping_loaded()
    else:
        db.session.commit()
        db.session.refresh(invitation)
    return MembersRemoval(invitation=invitation, removed=removed, kept=kept, revoked=revoked_row is not None)
