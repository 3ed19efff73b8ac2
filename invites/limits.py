"""Every rate limit of Invites, in one place, ready to put on a view.

Three decorators, each a bundle of Flask-Limiter limits that share their
counters across all the views they decorate (HTML and JSON alike), so an
attacker gains nothing by spreading attempts over several endpoints:

``code_guessing``
    The invite page (``GET /invite/<code>``), its Join button, and the API's
    validate and accept. Counts only answers that say
    the code does not exist (status 404, which those views must give for
    ``Refusal.NOT_FOUND``), per client address and per signed-in user. A
    team joining through one good link is never counted; a client that keeps
    trying unknown codes is refused with 429, for good codes too, until the
    window passes.

``login_attempts``
    Log-in POSTs (the page and the API). Counts failed attempts (4xx) per
    client address and per email address, so neither one address trying many
    accounts nor many addresses trying one account gets far.

``invitation_creation``
    Creating invitations (the dashboard form and the API). Counts invitations
    actually created (answers below 400) per signed-in user; invalid input
    costs nothing.

``registration``
    Sign-up POSTs (the page, and any API that registers). Counts every attempt
    per client address, before the form is read or a password hashed, so sign-up
    can neither probe which addresses have accounts quickly nor burn CPU.

``password_reset``
    "Forgot your password?" POSTs: every request per client address and per
    email address named, so nobody can flood a mailbox with reset links.

``confirmation_resend``
    "Resend confirmation" POSTs: per signed-in user.

Views that must never be limited (the dashboard's live-usage poll, ``/healthz``)
wear ``limiter.exempt``, so that default limits added in configuration skip them
too; static files are exempt in Flask-Limiter itself.

Put the decorator under the route decorator and above ``login_required`` /
``manager_required``, so that a refused request is refused before any other
work::

    @bp.route("/login", methods=["GET", "POST"])
    @limits.login_attempts
    def login(): ...

A limit is checked before the view runs and deducted after it answers, when
the answer matches (Flask-Limiter's ``deduct_when``). The rates are read from
the app's configuration on each request (keys in ``DEFAULTS``), so tests and
operators can change them; ``RATELIMIT_ENABLED=false`` switches all of them
off. Counters live in Redis when ``REDIS_URL`` is set, so every worker and
host shares them.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import TypeVar

from flask import Response, current_app, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from .accounts import EMAIL_MAX_LENGTH, normalise_email
from .extensions import limiter

View = TypeVar("View", bound=Callable)

#: Rates in Flask-Limiter's notation; override any of them in the app's config.
DEFAULTS = {
    "RATELIMIT_GUESS_PER_CLIENT": "20 per minute; 100 per hour",
    "RATELIMIT_GUESS_PER_USER": "10 per minute; 50 per hour",
    "RATELIMIT_LOGIN_PER_CLIENT": "10 per minute; 50 per hour",
    "RATELIMIT_LOGIN_PER_EMAIL": "5 per minute; 20 per hour",
    "RATELIMIT_CREATE_PER_USER": "30 per minute; 500 per day",
    "RATELIMIT_REGISTER_PER_CLIENT": "10 per hour",
    "RATELIMIT_RESET_PER_CLIENT": "10 per hour",
    "RATELIMIT_RESET_PER_EMAIL": "3 per hour",
    "RATELIMIT_CONFIRM_RESEND_PER_USER": "3 per hour",
}

GUESS_MESSAGE = "Too many attempts with invitation codes that do not exist."
LOGIN_MESSAGE = "Too many failed log-in attempts."
CREATE_MESSAGE = "You have created a lot of invitations in a short time."
REGISTER_MESSAGE = "Too many sign-ups from your address."
RESET_MESSAGE = "Too many password reset requests."
CONFIRM_RESEND_MESSAGE = "Too many confirmation emails asked for; check your inbox and spam folder."


def _rate(name: str) -> Callable[[], str]:
    """The rate configured under ``name``, read per request."""
    return lambda: current_app.config.get(name) or DEFAULTS[name]


# --- whom a limit counts -----------------------------------------------------


def client_key() -> str:
    """The client's address (the real one behind ``TRUSTED_PROXIES`` proxies)."""
    return f"client:{request.remote_addr or 'unknown'}"


def user_key() -> str:
    """The signed-in user."""
    return f"user:{current_user.get_id()}"


def submitted_email() -> str | None:
    """The email a log-in form or JSON body names, normalised; None if there is none.

    Never raises: Flask-Limiter takes any error in a key function for a dead
    storage and falls back to counting in one process's memory, so a body too
    large to read (413) must not escape from here; the view refuses it.
    """
    try:
        if request.is_json:
            body = request.get_json(silent=True)
            raw = body.get("email") if isinstance(body, dict) else None
        else:
            raw = request.form.get("email")
    except HTTPException:
        return None
    if not isinstance(raw, str) or not raw.strip():
        return None
    return normalise_email(raw)[:EMAIL_MAX_LENGTH]


def email_key() -> str:
    """The email tried, keyed (HMAC with the secret key) so that no address is
    written to Redis or to the limiter's log line in clear."""
    digest = hmac.new(
        current_app.secret_key.encode(), (submitted_email() or "").encode(), hashlib.sha256
    )
    return f"email:{digest.hexdigest()[:32]}"


def _anonymous() -> bool:
    return not current_user.is_authenticated


def _no_email() -> bool:
    return submitted_email() is None


# --- which answers count -----------------------------------------------------


def unknown_code_refused(response: Response) -> bool:
    """The answer said the invitation code does not exist."""
    return response.status_code == 404


def login_failed(response: Response) -> bool:
    """A refused log-in (wrong credentials, invalid form, stale CSRF token); not the 429 itself."""
    return 400 <= response.status_code < 500 and response.status_code != 429


def invitation_created(response: Response) -> bool:
    """The invitation was stored (200 card, 201 JSON, or the redirect without JavaScript)."""
    return response.status_code < 400


# --- the limits --------------------------------------------------------------

guess_per_client = limiter.shared_limit(
    _rate("RATELIMIT_GUESS_PER_CLIENT"),
    scope="invitation-code-guess",
    key_func=client_key,
    deduct_when=unknown_code_refused,
    error_message=GUESS_MESSAGE,
)
guess_per_user = limiter.shared_limit(
    _rate("RATELIMIT_GUESS_PER_USER"),
    scope="invitation-code-guess",
    key_func=user_key,
    exempt_when=_anonymous,
    deduct_when=unknown_code_refused,
    error_message=GUESS_MESSAGE,
)
login_per_client = limiter.shared_limit(
    _rate("RATELIMIT_LOGIN_PER_CLIENT"),
    scope="login",
    key_func=client_key,
    methods=["POST"],
    deduct_when=login_failed,
    error_message=LOGIN_MESSAGE,
)
login_per_email = limiter.shared_limit(
    _rate("RATELIMIT_LOGIN_PER_EMAIL"),
    scope="login",
    key_func=email_key,
    methods=["POST"],
    exempt_when=_no_email,
    deduct_when=login_failed,
    error_message=LOGIN_MESSAGE,
)
create_per_user = limiter.shared_limit(
    _rate("RATELIMIT_CREATE_PER_USER"),
    scope="invitation-create",
    key_func=user_key,
    methods=["POST"],
    exempt_when=_anonymous,
    deduct_when=invitation_created,
    error_message=CREATE_MESSAGE,
)


register_per_client = limiter.shared_limit(
    _rate("RATELIMIT_REGISTER_PER_CLIENT"),
    scope="registration",
    key_func=client_key,
    methods=["POST"],
    error_message=REGISTER_MESSAGE,
)
reset_per_client = limiter.shared_limit(
    _rate("RATELIMIT_RESET_PER_CLIENT"),
    scope="password-reset",
    key_func=client_key,
    methods=["POST"],
    error_message=RESET_MESSAGE,
)
reset_per_email = limiter.shared_limit(
    _rate("RATELIMIT_RESET_PER_EMAIL"),
    scope="password-reset",
    key_func=email_key,
    methods=["POST"],
    exempt_when=_no_email,
    error_message=RESET_MESSAGE,
)
confirm_resend_per_user = limiter.shared_limit(
    _rate("RATELIMIT_CONFIRM_RESEND_PER_USER"),
    scope="confirmation-resend",
    key_func=user_key,
    methods=["POST"],
    exempt_when=_anonymous,
    error_message=CONFIRM_RESEND_MESSAGE,
)


def registration(view: View) -> View:
    """Sign-up POSTs: every attempt per client, counted before any work."""
    return register_per_client(view)


def password_reset(view: View) -> View:
    """Reset-link requests: per client and per email address."""
    return reset_per_client(reset_per_email(view))


def confirmation_resend(view: View) -> View:
    """Resend-confirmation POSTs: per signed-in user."""
    return confirm_resend_per_user(view)


def code_guessing(view: View) -> View:
    """Invite page, validate, accept: unknown codes per client and per signed-in user."""
    return guess_per_client(guess_per_user(view))


def login_attempts(view: View) -> View:
    """Log-in POSTs: failures per client and per email."""
    return login_per_client(login_per_email(view))


def invitation_creation(view: View) -> View:
    """Create-invitation POSTs: invitations created per signed-in user."""
    return create_per_user(view)
