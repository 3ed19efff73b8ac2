"""The invite page at ``/invite/<code>``: what an invitee sees, and how they accept.

The rules, and the messages for every refusal, live in ``invitations``; these
views only turn its answers into pages.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from .. import accounts, invitations, limits, links
from ..htmx import render_page_or_fragment
from ..invitations import InvitationRefused, Refusal
from ..models import Invitation
from ..tenancy import switch_company
from ..web import refusal_status
from .forms import AcceptForm

bp = Blueprint("invite", __name__, url_prefix="/invite")


def _page(code: str, invitation: Invitation | None, refused: InvitationRefused | None = None):
    """The invite page (or, for htmx, its ``invite`` block), never stored by any cache."""
    back_here = links.url_pattern("invite.show", "code")(code)  # url_for(".show", code=code), kept per process
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


OPEN_ERROR = "Paste the whole invitation link (…/invite/…) or just its code."
# What a code can be: URL-safe base64, as invitations.new_code makes them.
_CODE = re.compile(r"[A-Za-z0-9_-]{1,%d}" % invitations.CODE_MAX_LENGTH)


def code_from(pasted: str) -> str | None:
    """The invitation code in a pasted link (``https://…/invite/<code>``) or code, or None."""
    text = pasted.strip()
    if "/" in text:
        path = urlsplit(text if "//" in text else "//" + text).path
        marker = path.rfind("/invite/")
        text = path[marker + len("/invite/") :].strip("/") if marker >= 0 else ""
    return text if _CODE.fullmatch(text) else None


@bp.get("")
def open_invitation():
    """Open an invitation from a pasted link or code: a field for people who have one.

    ``?code=`` (the field) leads to the invite page; anything that is not a link or
    code shows the field again with why. The invite page itself decides the rest.
    """
    pasted = request.args.get("code")
    if pasted is None:
        return render_template("invite/open.html", pasted="", error=None)
    code = code_from(pasted[:2000])
    if code is None:
        return render_template("invite/open.html", pasted=pasted[:2000], error=OPEN_ERROR), 422
    return redirect(url_for(".show", code=code))


@bp.get("/<code>")
@limits.code_guessing
def show(code: str):
    """What the invitation offers (company, inviter, spots left, expiry) or why it can't be used.

    Reads only: link previewers and mail scanners open these links too. Unknown
    codes are limited per client and per user (``limits.code_guessing``).
    """
    user = current_user if current_user.is_authenticated else None
    token = request.args.get("t")
    if token is not None:
        _remember_email_token(code, token, user)
    try:
        invitation = invitations.check(code, user)
    except InvitationRefused as refused:
        return _page(code, refused.invitation, refused)
    return _page(code, invitation)


def _remember_email_token(code: str, token: str, user) -> None:
    """The link of an invitation email carries a token that proves its reader's address.

    Kept in the session for the sign-up that may follow (it pre-fills and
    verifies that address); a signed-in user with that very address is verified
    at once. A token for another invitation, or a forged one, is ignored.
    """
    proven = invitations.proven_email(token, code)
    if proven is None:
        return
    session[invitations.TOKEN_SESSION_KEY] = token
    if user is not None and user.email_verified_at is None and accounts.normalise_email(user.email) == proven:
        accounts.verify_address(user)
        flash(f"Thank you: {proven} is confirmed.", "success")


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
