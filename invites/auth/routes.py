"""Register, log in and log out."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.exceptions import HTTPException

from .. import accounts, invitations, limits
from ..extensions import db, login_manager
from ..htmx import current_page, is_htmx_request
from ..models import as_id
from ..tenancy import SESSION_KEY
from ..web import safe_next
from .forms import ForgotPasswordForm, LoginForm, RegisterForm, ResendConfirmationForm, ResetPasswordForm

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to continue."
login_manager.login_message_category = "info"


@login_manager.unauthorized_handler
def unauthorized():
    """Send an anonymous visitor to log in and back to where they were.

    htmx requests (a card button, the live-usage poll, a boosted link) would otherwise follow
    the redirect and swap the login page into a card; they get a 401 with
    ``HX-Redirect`` instead, and come back to the page they were on, not to
    the fragment's URL. Blueprints that opt out of the login view (the API)
    get a plain 401.
    """
    if (
        request.blueprint in login_manager.blueprint_login_views
        and not (login_manager.blueprint_login_views[request.blueprint])
    ):
        abort(401)
    if is_htmx_request():
        back = safe_next(current_page())
        response = make_response("", 401)
        response.headers["HX-Redirect"] = url_for("auth.login", next=back or request.path)
        return response
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(url_for("auth.login", next=safe_next(request.full_path.rstrip("?"))))


@login_manager.user_loader
def load_user(user_id: str) -> accounts.SignedInUser | None:
    """Flask-Login's loader: the user behind the session's id ``<user id>:<session token>``.

    One Core row, no ORM (docs/performance.md). The token is compared with the one
    on that row (no extra query): once it has been rotated (log out, password
    reset, removal from a company), a copied cookie signs nobody in.
    """
    raw_id, _, token = str(user_id).partition(":")
    user_id = as_id(raw_id)
    if user_id is None or not token:
        return None
    row = db.session.connection().execute(accounts.SIGNED_IN_USER, {"user_id": user_id}).first()
    if row is None or not row.session_token or not hmac.compare_digest(row.session_token, token):
        return None
    return accounts.SignedInUser(*row)


def _after_login() -> str:
    """Where to go after logging in or registering: ``next`` if safe, else the dashboard."""
    return safe_next(request.values.get("next")) or url_for("dashboard.home")


@bp.route("/login", methods=["GET", "POST"])
@limits.login_attempts
def login():
    """Log in with email and password; one message for any wrong credentials.

    Failed attempts are limited per client and per email (``limits.login_attempts``).
    """
    if current_user.is_authenticated:
        return redirect(_after_login())
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(_after_login())
        form.form_errors.append(accounts.LOGIN_FAILED)
    status = 422 if request.method == "POST" else 200
    joining = _joining(_invitation_of(form.next.data))
    return render_template("auth/login.html", form=form, joining=joining), status


def _invitation_of(next_path: str | None):
    """The invitation a log-in or sign-up returns to (``next=/invite/<code>``), or None.

    It names the company in the form's heading ("… to join Acme").
    """
    if not next_path:
        return None
    try:
        endpoint, args = current_app.url_map.bind("localhost").match(urlsplit(next_path).path, method="GET")
    except (HTTPException, ValueError):
        return None
    if endpoint != "invite.show":
        return None
    return invitations.find_by_code(args["code"])


def _invited_email(invitation) -> str | None:
    """The address the invitation email proved, when the sign-up returns to that invitation.

    Only with the signed token the invitation email's link carried (kept in the
    session by the invite page): then the person has shown they read that
    mailbox. Without it nothing is pre-filled; the invite page's masked hint stays.
    The address never travels in a URL (browser history, access logs, Referer).
    """
    if invitation is None:
        return None
    return invitations.proven_email_of(invitation, session.get(invitations.TOKEN_SESSION_KEY))


def _joining(invitation) -> str | None:
    """The company the person is about to join, for the heading ("… to join Acme")."""
    return invitation.company.name if invitation is not None else None


@bp.route("/register", methods=["GET", "POST"])
@limits.registration
def register():
    """Create an account, and a company if a name is given.

    Sign-up from an invitation email's link (its token kept in the session) with
    that same address makes a verified account; any other sign-up gets a
    confirmation email. Every POST counts against ``limits.registration``
    before the password is hashed.
    """
    if current_user.is_authenticated:
        return redirect(_after_login())
    form = RegisterForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
    # The invitation this sign-up returns to, looked up once for the pre-fill, the
    # verification and the heading.
    invitation = _invitation_of(safe_next(form.next.data))
    if request.method == "GET":
        form.email.data = _invited_email(invitation)
    if form.validate_on_submit():
        proven = _invited_email(invitation)
        try:
            user = accounts.create_account(
                email=form.email.data,
                password=form.password.data,
                name=form.name.data,
                company_name=form.company_name.data,
                verified=proven is not None and accounts.normalise_email(form.email.data) == proven,
            )
        except accounts.AccountError as exc:
            for field, message in exc.errors.items():
                getattr(form, field).errors.append(message)
        else:
            login_user(user)
            flash(f"Welcome to Invites, {user.name}.", "success")
            if user.email_verified_at is None:
                flash(f"We sent a confirmation link to {user.email}.", "info")
            return redirect(_after_login())
    status = 422 if request.method == "POST" else 200
    return render_template("auth/register.html", form=form, joining=_joining(invitation)), status


@bp.post("/logout")
@login_required
def logout():
    """Log out (a POST, so a link elsewhere cannot do it) and go to ``next`` or home.

    The account's session token changes, so this cookie, and any copy of it,
    signs nobody in any more (every session of the account ends).
    """
    accounts.end_sessions(current_user.id)
    db.session.commit()
    logout_user()
    session.pop(SESSION_KEY, None)
    flash("You have been logged out.", "info")
    return redirect(safe_next(request.form.get("next")) or url_for("index"))


# --- confirming an address -----------------------------------------------------------


@bp.get("/confirm/<token>")
def confirm_email(token: str):
    """Follow a confirmation link: the address is verified, and the page says so.

    A link that is expired, already used or tampered with changes nothing.
    """
    user = accounts.confirm_email(token)
    if user is not None:
        flash(f"Thank you: {user.email} is confirmed.", "success")
    elif current_user.is_authenticated and current_user.email_verified_at is not None:
        flash("Your email address is already confirmed.", "info")
    else:
        flash(
            "This confirmation link is invalid, already used or older than 48 hours. Log in and ask for a new one.",
            "error",
        )
    return redirect(url_for("dashboard.home") if current_user.is_authenticated else url_for("auth.login"))


@bp.post("/confirm/resend")
@limits.confirmation_resend
@login_required
def resend_confirmation():
    """Send the confirmation email again (the banner's button, and the invite page's)."""
    if not ResendConfirmationForm().validate_on_submit():
        abort(400)
    if accounts.resend_confirmation(current_user):
        flash(f"We sent a new confirmation link to {current_user.email}.", "info")
    else:
        flash("Your email address is already confirmed.", "info")
    return redirect(safe_next(request.form.get("next")) or url_for("dashboard.home"))


# --- password reset ---------------------------------------------------------------------

RESET_SENT = (
    "If an account uses that address, we have sent it a link to reset the password. The link works for one hour."
)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limits.password_reset
def forgot_password():
    """Ask for a reset link; the same answer whether or not the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        flash(RESET_SENT, "info")
        return redirect(url_for("auth.login"))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password from a reset link; signs in and ends every other session."""
    if accounts.user_for_reset(token) is None:
        flash("This reset link is invalid, already used or older than one hour. Ask for a new one.", "error")
        return redirect(url_for("auth.forgot_password"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        user = accounts.reset_password(token, form.password.data)
        if user is None:
            flash("This reset link has just been used. Ask for a new one.", "error")
            return redirect(url_for("auth.forgot_password"))
        session.pop(SESSION_KEY, None)
        login_user(user)
        flash("Your password has been changed. Every other session of your account has ended.", "success")
        return redirect(url_for("dashboard.home"))
    status = 422 if request.method == "POST" else 200
    response = make_response(render_template("auth/reset.html", form=form), status)
    # The token is in this page's URL: no cache keeps it.
    response.headers["Cache-Control"] = "no-store"
    return response
