"""The invite page at ``/invite/<code>``: what an invitee sees, and how they accept.

The rules, and the messages for every refusal, live in ``invitations``; these
views only turn its answers into pages.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import current_user

from .. import invitations, limits
from ..htmx import render_page_or_fragment
from ..invitations import InvitationRefused, Refusal
from ..models import Invitation
from ..tenancy import switch_company
from ..web import refusal_status
from .forms import AcceptForm

bp = Blueprint("invite", __name__, url_prefix="/invite")


def _page(code: str, invitation: Invitation | None, refused: InvitationRefused | None = None):
    """The invite page (or, for htmx, its ``invite`` block), never stored by any cache."""
    back_here = url_for(".show", code=code)
    response = render_page_or_fragment(
        "invite/show.html",
        block="invite",
        status=refusal_status(refused.reason) if refused else 200,
        code=code,
        invitation=invitation,
        refused=refused,
        Refusal=Refusal,
        back_here=back_here,
        remaining=invitations.remaining_uses(invitation) if invitation else 0,
        masked_email=invitations.mask_email(invitation.email) if invitation and invitation.email else None,
    )
    # The page holds a CSRF token and a per-user answer: a back button or a
    # shared cache must ask again rather than offer "Join" after joining.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<code>")
@limits.code_guessing
def show(code: str):
    """What the invitation offers (company, inviter, spots left, expiry) or why it can't be used.

    Reads only: link previewers and mail scanners open these links too. Unknown
    codes are limited per client and per user (``limits.code_guessing``).
    """
    user = current_user if current_user.is_authenticated else None
    try:
        invitation = invitations.check(code, user)
    except InvitationRefused as refused:
        return _page(code, refused.invitation, refused)
    return _page(code, invitation)


@bp.post("/<code>/accept")
@limits.code_guessing
def accept(code: str):
    """Join the company through the invitation, then land on it with a flash.

    Anonymous visitors are sent to log in and back to the invitation; any
    refusal re-renders the page with its message and nothing consumed.
    """
    if not current_user.is_authenticated:
        flash("Log in to accept the invitation.", "info")
        return redirect(url_for("auth.login", next=url_for(".show", code=code)))
    if not AcceptForm().validate_on_submit():
        abort(400)
    try:
        acceptance = invitations.accept(code, current_user._get_current_object())
    except InvitationRefused as refused:
        return _page(code, refused.invitation, refused)
    switch_company(acceptance.company.id)
    flash(f"You joined {acceptance.company.name}", "success")
    return redirect(url_for("dashboard.home"))
