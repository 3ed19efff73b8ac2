"""Register, log in and log out."""
from __future__ import annotations

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
from ..models import User
from ..tenancy import SESSION_KEY
from ..web import safe_next
from .forms import LoginForm, RegisterForm

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
    if request.blueprint in login_manager.blueprint_login_views and not (
        login_manager.blueprint_login_views[request.blueprint]
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
def load_user(user_id: str) -> User | None:
    """Flask-Login's loader: the user behind the session's id."""
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


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
    return render_template("auth/login.html", form=form), status


def _invited_email(next_path: str | None) -> str | None:
    """The target email of the invitation a sign-up returns to, to pre-fill the form.

    Found on the server from ``next=/invite/<code>``, so the address never
    travels in a URL (browser history, access logs, Referer).
    """
    if not next_path:
        return None
    try:
        endpoint, args = current_app.url_map.bind("localhost").match(urlsplit(next_path).path, method="GET")
    except (HTTPException, ValueError):
        return None
    if endpoint != "invite.show":
        return None
    invitation = invitations.find_by_code(args["code"])
    return invitation.email if invitation is not None else None


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create an account, and a company if a name is given."""
    if current_user.is_authenticated:
        return redirect(_after_login())
    form = RegisterForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
        form.email.data = _invited_email(form.next.data)
    if form.validate_on_submit():
        try:
            user = accounts.create_account(
                email=form.email.data,
                password=form.password.data,
                name=form.name.data,
                company_name=form.company_name.data,
            )
        except accounts.AccountError as exc:
            for field, message in exc.errors.items():
                getattr(form, field).errors.append(message)
        else:
            login_user(user)
            flash(f"Welcome to Invites, {user.name}.", "success")
            return redirect(_after_login())
    status = 422 if request.method == "POST" else 200
    return render_template("auth/register.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """Log out (a POST, so a link elsewhere cannot do it) and go to ``next`` or home."""
    logout_user()
    session.pop(SESSION_KEY, None)
    flash("You have been logged out.", "info")
    return redirect(safe_next(request.form.get("next")) or url_for("index"))
