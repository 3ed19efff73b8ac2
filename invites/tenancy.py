"""The current company of a signed-in user, and the role checks views rely on."""
from __future__ import annotations

import functools

from flask import abort, flash, g, make_response, redirect, request, session, url_for
from flask_login import current_user, login_required

from . import invitations
from .htmx import is_htmx_request
from .accounts import memberships_of
from .models import Invitation, Membership, Role

SESSION_KEY = "company_id"


def current_membership() -> Membership | None:
    """The signed-in user's membership in the company chosen in the session.

    Falls back to their first company (and remembers it), so a user removed
    from a company, or one who never chose, still lands somewhere they belong.
    Cached on ``g`` for the request.
    """
    if "membership" in g:
        return g.membership
    membership = None
    if current_user.is_authenticated:
        memberships = memberships_of(current_user.id)
        chosen = session.get(SESSION_KEY)
        membership = next((m for m in memberships if m.company_id == chosen), None)
        if membership is None and memberships:
            membership = memberships[0]
            session[SESSION_KEY] = membership.company_id
        g.memberships = memberships
    g.membership = membership
    return membership


def switch_company(company_id: int) -> Membership | None:
    """Make ``company_id`` current if the user belongs to it; None otherwise."""
    g.pop("membership", None)
    session[SESSION_KEY] = company_id
    membership = current_membership()
    return membership if membership and membership.company_id == company_id else None


def role_required(*roles: Role):
    """Views for members of the current company with one of ``roles``; others get 403.

    Anonymous visitors are sent to log in first (and back afterwards).
    """
    allowed = {role.value for role in roles}

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            membership = current_membership()
            if membership is None or membership.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


manager_required = role_required(*(role for role in Role if role.manages_invitations))
owner_required = role_required(Role.OWNER)


def get_invitation_or_404(invitation_id) -> Invitation:
    """An invitation of the current company; 404 for any other, so none is confirmed."""
    membership = current_membership()
    invitation = (
        invitations.get_for_company(invitation_id, membership.company_id) if membership else None
    )
    if invitation is None:
        abort(404)
    return invitation


def page_company_required(view):
    """Changes posted from a page of one company are refused once another is current.

    Every dashboard form carries the company its page showed (``company_id``).
    After a switch in another tab, a Create from the old tab would otherwise
    land in the new company, and its link would admit people there. Nothing is
    changed; the page is reloaded (htmx) or redirected, with what happened.
    """

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        membership = current_membership()
        posted = request.form.get("company_id")
        if membership is not None and posted is not None and posted != str(membership.company_id):
            flash(
                f"You switched to {membership.company.name} in another tab, so nothing was "
                "changed. This is its dashboard now.",
                "error",
            )
            if is_htmx_request():
                response = make_response("", 409)
                response.headers["HX-Refresh"] = "true"
                return response
            return redirect(url_for("dashboard.company"))
        return view(*args, **kwargs)

    return wrapped
