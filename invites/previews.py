"""An invitation as someone holding its code sees it: a read-only snapshot, by code, in one Core row.

The invite page (anonymous) and the API's validate only read the invitation,
its company and who created it. Loading them as ORM entities (the Session, the
identity map, a row processor per joined relationship) cost more than the rest
of a validate (docs/performance.md). ``by_code`` reads the same LEFT OUTER JOINs
as ``invitations.find_by_code`` with Core and gives plain objects with the same
attribute names: every column of the invitation and of its company, and the
creator's id, name and email. Nothing here can be changed or saved through
the Session: pause, start, revoke and edit load the ORM entity
(``get_for_company``). ``by_code_for_user`` is the signed-in check's read (the
invite page and accept): the same row, and whether the user is a member of its
company or has used it, in the same statement; accept's conditional UPDATE
decides on its own and brings the snapshot up to date from its RETURNING.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, exists, select

from .extensions import db
from .models import Company, Invitation, Membership, Redemption, User

#: The creator's columns a preview carries (never the password hash or tokens).
CREATOR_COLUMNS = ("id", "name", "email")


class InvitationPreview(SimpleNamespace):
    """The invitation's columns as attributes, plus ``company`` and ``creator`` (read-only snapshots)."""


def _attributes(model) -> list[tuple[str, Any]]:
    """(attribute name, column) of every mapped column of ``model``, in table order."""
    return [(attr.key, attr.columns[0]) for attr in model.__mapper__.column_attrs]


_INVITATION = _attributes(Invitation)
_COMPANY = _attributes(Company)
_CREATOR = [(name, User.__table__.c[name]) for name in CREATOR_COLUMNS]
_invitations, _companies, _users = Invitation.__table__, Company.__table__, User.__table__

#: Built once, with a bound parameter: its cache key is worked out once per process.
BY_CODE = (
    select(
        *(column for _, column in _INVITATION),
        *(column.label(f"company_{key}") for key, column in _COMPANY),
        *(column.label(f"creator_{key}") for key, column in _CREATOR),
    )
    .select_from(_invitations)
    .outerjoin(_companies, _companies.c.id == _invitations.c.company_id)
    .outerjoin(_users, _users.c.id == _invitations.c.created_by)
    .where(_invitations.c.code == bindparam("code"))
)

_memberships, _redemptions = Membership.__table__, Redemption.__table__
#: ``BY_CODE`` and, in the same snapshot, whether the user is a member of its company
#: and whether they have used it (a use commits both together: one statement sees both or neither).
BY_CODE_FOR_USER = BY_CODE.add_columns(
    exists()
    .where(_memberships.c.user_id == bindparam("user_id"), _memberships.c.company_id == _invitations.c.company_id)
    .label("is_member"),
    exists()
    .where(_redemptions.c.invitation_id == _invitations.c.id, _redemptions.c.user_id == bindparam("user_id"))
    .label("has_used"),
)

_INVITATION_KEYS = tuple(key for key, _ in _INVITATION)
_COMPANY_KEYS = tuple(key for key, _ in _COMPANY)
_CREATOR_KEYS = tuple(key for key, _ in _CREATOR)
_COMPANY_END = len(_INVITATION_KEYS) + len(_COMPANY_KEYS)
_CREATOR_END = _COMPANY_END + len(_CREATOR_KEYS)
_COMPANY_ID, _CREATOR_ID = _COMPANY_KEYS.index("id"), _CREATOR_KEYS.index("id")


class InvitationRow(SimpleNamespace):
    """An invitation's columns as attributes (a row of a list: no company, no creator)."""


#: Every column of an invitation, in table order: a list page selects these (``invitations._PAGES``).
INVITATION_COLUMNS = tuple(column for _, column in _INVITATION)


def rows(result) -> list[InvitationRow]:
    """``InvitationRow``s from a result of ``INVITATION_COLUMNS``: one plain object per row, no ORM."""
    keys = _INVITATION_KEYS
    return [InvitationRow(**dict(zip(keys, row, strict=True))) for row in result]


def _preview(values: tuple) -> InvitationPreview:
    """The snapshot from the columns of ``BY_CODE`` (in that order)."""
    preview = InvitationPreview(**dict(zip(_INVITATION_KEYS, values[: len(_INVITATION_KEYS)], strict=True)))
    company = values[len(_INVITATION_KEYS) : _COMPANY_END]
    creator = values[_COMPANY_END:_CREATOR_END]
    preview.company = (
        SimpleNamespace(**dict(zip(_COMPANY_KEYS, company, strict=True))) if company[_COMPANY_ID] is not None else None
    )
    preview.creator = (
        SimpleNamespace(**dict(zip(_CREATOR_KEYS, creator, strict=True))) if creator[_CREATOR_ID] is not None else None
    )
    return preview


def by_code(code: str) -> InvitationPreview | None:
    """The invitation with this (well-formed) code, with its company and creator, or None. One statement.

    Within the request's Session transaction when one is open (it sees what that
    transaction wrote); otherwise (an anonymous invite page or validate, which
    touch nothing else) on a connection of its own, sparing the Session's
    transaction begun and closed around the one read.
    """
    registry = db.session.registry
    if registry.has() and registry().in_transaction():
        row = db.session.connection().execute(BY_CODE, {"code": code}).first()
    else:
        with db.engine.connect() as connection:
            row = connection.execute(BY_CODE, {"code": code}).first()
    return _preview(tuple(row)) if row is not None else None


def by_code_for_user(code: str, user_id: int) -> tuple[InvitationPreview | None, bool, bool]:
    """``by_code``, and whether the user is a member of its company and has used it. One statement."""
    row = db.session.connection().execute(BY_CODE_FOR_USER, {"code": code, "user_id": user_id}).first()
    if row is None:
        return None, False, False
    values = tuple(row)
    return _preview(values), bool(values[_CREATOR_END]), bool(values[_CREATOR_END + 1])
