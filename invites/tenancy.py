"""The current company of a signed-in user (the role checks built on it are in ``web``)."""

from __future__ import annotations

from flask import g, session
from flask_login import current_user

from .accounts import MembershipSnapshot, current_memberships_of

SESSION_KEY = "company_id"


def current_membership() -> MembershipSnapshot | None:
    """The signed-in user's membership in the company chosen in the session.

    Falls back to their first company (and remembers it), so a user removed
    from a company, or one who never chose, still lands somewhere they belong.
    Cached on ``g`` for the request. Read-only snapshots in one Core statement
    (``accounts.MembershipSnapshot``): a change to the company or a role made in
    this request is not seen here.
    """
    if "membership" in g:
        return g.membership
    membership = None
    if current_user.is_authenticated:
        memberships = current_memberships_of(current_user.id)
        chosen = session.get(SESSION_KEY)
        membership = next((m for m in memberships if m.company_id == chosen), None)
        if membership is None and memberships:
            membership = memberships[0]
            session[SESSION_KEY] = membership.company_id
        g.memberships = memberships
    g.membership = membership
    return membership


def switch_company(company_id: int) -> MembershipSnapshot | None:
    """Make ``company_id`` current if the user belongs to it; None otherwise, and the
    current company stays the one it was (not the first company by name)."""
    previous = session.get(SESSION_KEY)
    g.pop("membership", None)
    session[SESSION_KEY] = company_id
    membership = current_membership()
    if membership is not None and membership.company_id == company_id:
        return membership
    g.pop("membership", None)
    if previous is None:
        session.pop(SESSION_KEY, None)
    else:
        session[SESSION_KEY] = previous
    return None
