"""The web edge: what every blueprint shares, written once.

- ``REFUSAL_STATUS``: the status each domain refusal is answered with, by the
  invite page, its fragment and the JSON API alike;
- ``role_required`` (``manager_required``, ``owner_required``): one role check,
  whose failure (``RoleRefused``, a 403) each blueprint renders its own way
  (the pages' error page, the API's JSON);
- ``invitation_of_current_company`` and ``membership_of_current_company``: the tenant
  check for an id, a 404 (``InvitationNotFound`` for invitations) for any other company's;
- ``page_company_required``: a form posted from another company's page changes nothing;
- ``safe_next``: where a ``next`` parameter may send a browser;
- ``parse_page``: a page number from a query string.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

from flask import flash, make_response, redirect, request, url_for
from flask_login import login_required
from werkzeug.exceptions import Forbidden, NotFound

from . import accounts, invitations, previews
from .htmx import is_htmx_request
from .invitations import Refusal
from .models import Invitation, Membership, Role
from .tenancy import current_membership

# How each reason the domain refuses an invitation is answered, here and nowhere else.
# State refusals are 409: the invitation exists, but its state (revoked, expired, full,
# paused) or the user's (already a member) forbids this now. 410 would be wrong for a
# pause, which can be undone. An invitation meant for another address is 403: this
# account may not use it, whatever its state; so is one for this address while it is
# not yet confirmed.
REFUSAL_STATUS: dict[Refusal, int] = {
    Refusal.NOT_FOUND: 404,
    Refusal.WRONG_ACCOUNT: 403,
    Refusal.UNVERIFIED: 403,
    Refusal.WRONG_DOMAIN: 403,
    Refusal.REVOKED: 409,
    Refusal.EXPIRED: 409,
    Refusal.FULL: 409,
    Refusal.PAUSED: 409,
    Refusal.ALREADY_MEMBER: 409,
    Refusal.ALREADY_USED: 409,
    # An edit from a card that is out of date: the card as it is now comes with it.
    Refusal.CHANGED_MEANWHILE: 409,
}


def refusal_status(reason: Refusal) -> int:
    """The status that answers ``reason``, on a page, in a fragment or in JSON."""
    return REFUSAL_STATUS[reason]


# --- roles -------------------------------------------------------------------------


class RoleRefused(Forbidden):
    """The signed-in user's role in the current company does not allow this view.

    A 403 like any other for the pages; the API registers its own handler and
    answers JSON.
    """

    def __init__(self, roles: frozenset[Role]):
        super().__init__()
        self.roles = roles


def role_required(*roles: Role):
    """Views for members of the current company with one of ``roles``; ``RoleRefused`` otherwise.

    Anonymous visitors meet Flask-Login first: the pages send them to log in
    (and back afterwards), the API answers 401.
    """
    allowed = frozenset(roles)

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            membership = current_membership()
            if membership is None or membership.role_enum not in allowed:
                raise RoleRefused(allowed)
            return view(*args, **kwargs)

        return wrapped

    return decorator


manager_required = role_required(*(role for role in Role if role.manages_invitations))
owner_required = role_required(Role.OWNER)
member_required = role_required(*Role)


# --- the tenant check ----------------------------------------------------------------


class InvitationNotFound(NotFound):
    """No invitation with this id in the current company (another company's is not confirmed)."""


def invitation_of_current_company(invitation_id: Any) -> Invitation:
    """An invitation of the current company; ``InvitationNotFound`` (404) for any other."""
    membership = current_membership()
    invitation = invitations.get_for_company(invitation_id, membership.company_id) if membership else None
    if invitation is None:
        raise InvitationNotFound()
    return invitation


def invitation_row_of_current_company(invitation_id: Any) -> previews.InvitationRow:
    """``invitation_of_current_company`` as a read-only row, for pause and start
    (``invitations.set_active``); ``InvitationNotFound`` (404) for any other."""
    membership = current_membership()
    invitation = invitations.row_for_company(invitation_id, membership.company_id) if membership else None
    if invitation is None:
        raise InvitationNotFound()
    return invitation


def membership_of_current_company(membership_id: Any) -> Membership:
    """A membership of the current company; 404 for any other."""
    membership = current_membership()
    found = accounts.get_membership(membership_id, membership.company_id) if membership else None
    if found is None:
        raise NotFound()
    return found


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


# --- request parameters ------------------------------------------------------------


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None.

    Refuses anything a browser could read as another host: ``//host``,
    ``/\\host`` (browsers treat ``\\`` as ``/``), ``https:host``, and any
    control character or leading space that browsers strip.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    if parts.scheme or parts.netloc:
        return None
    return target


def parse_page(raw: Any) -> int:
    """A page number from a query string; anything odd means page 1."""
    try:
        page = int(raw)
    except (TypeError, ValueError):
        return 1
    return page if 1 <= page <= 100_000 else 1
