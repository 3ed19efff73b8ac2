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

Key functions and ``exempt_when`` conditions never raise. Flask-Limiter takes
any exception from them for a dead storage and counts that worker's limits in
its own memory from then on, so a malformed body (deep JSON, 413) would have
switched a worker off Redis. What the body cannot give is "no email"; what the
database cannot give (the signed-in user) is raised again by the view the limit
guards, so the request fails as it would without limits.

When Redis goes away, each process logs one WARNING, counts in its own memory,
says so on ``/healthz`` (``{"status": "degraded", "rateLimits": "memory"}``),
and asks Redis again every ``RATELIMIT_STORAGE_RECHECK`` seconds (2), going
back to it as soon as it answers (``register``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, current_app, g, request
from flask_login import current_user

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


def _held_for_the_view(error: Exception) -> None:
    """Keep ``error`` for ``_raise_held_error`` to raise in place of the guarded view."""
    if "_limits_error" not in g:
        g._limits_error = error


def user_key() -> str:
    """The signed-in user (loading them can fail with the database: see ``_held_for_the_view``)."""
    if "_limits_error" in g:  # asking again would wait for the database again
        return "user:unknown"
    try:
        return f"user:{current_user.get_id()}"
    except Exception as exc:
        _held_for_the_view(exc)
        return "user:unknown"


def submitted_email() -> str | None:
    """The email a log-in form or JSON body names, normalised; None if there is none.

    Never raises (see the module docstring): a body that cannot be read (too
    large, JSON nested thousands deep, not UTF-8) names no email, and the view
    refuses it with its own 4xx. Worked out once per request: both log-in
    limits ask.
    """
    if "_limits_email" in g:
        return g._limits_email
    try:
        if request.is_json:
            body = request.get_json(silent=True)
            raw = body.get("email") if isinstance(body, dict) else None
        else:
            raw = request.form.get("email")
        email = normalise_email(raw)[:EMAIL_MAX_LENGTH] if isinstance(raw, str) and raw.strip() else None
    except Exception:
        email = None
    g._limits_email = email
    return email


def email_key() -> str:
    """The email tried, keyed (HMAC with the secret key) so that no address is
    written to Redis or to the limiter's log line in clear."""
    digest = hmac.new(current_app.secret_key.encode(), (submitted_email() or "").encode(), hashlib.sha256)
    return f"email:{digest.hexdigest()[:32]}"


def _anonymous() -> bool:
    if "_limits_error" in g:
        return True
    try:
        return not current_user.is_authenticated
    except Exception as exc:
        _held_for_the_view(exc)
        return True


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
    return register_per_client(_raise_held_error(view))


def password_reset(view: View) -> View:
    """Reset-link requests: per client and per email address."""
    return reset_per_client(reset_per_email(_raise_held_error(view)))


def confirmation_resend(view: View) -> View:
    """Resend-confirmation POSTs: per signed-in user."""
    return confirm_resend_per_user(_raise_held_error(view))


def _raise_held_error(view: View) -> View:
    """Raise, in place of ``view``, what a key function met and kept (``_held_for_the_view``)."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        error = g.pop("_limits_error", None)
        if error is not None:
            raise error
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def code_guessing(view: View) -> View:
    """Invite page, validate, accept: unknown codes per client and per signed-in user."""
    return guess_per_client(guess_per_user(_raise_held_error(view)))


def login_attempts(view: View) -> View:
    """Log-in POSTs: failures per client and per email."""
    return login_per_client(login_per_email(_raise_held_error(view)))


def invitation_creation(view: View) -> View:
    """Create-invitation POSTs: invitations created per signed-in user."""
    return create_per_user(_raise_held_error(view))


# --- when Redis goes away ------------------------------------------------------

log = logging.getLogger(__name__)

#: How long a process waits for Redis before counting in memory (seconds).
STORAGE_SOCKET_TIMEOUT = 0.5
STORAGE_DOWN = "Rate limits: Redis does not answer (%s); this process counts limits in its own memory until it does"
STORAGE_BACK = "Rate limits: Redis answers again; this process counts limits in Redis"


class _Outage:
    """This process's view of the limits' storage (each gunicorn worker has its own)."""

    down = False
    last_probe = 0.0


def _storage_shared(app: Flask) -> bool:
    """Whether limits are counted in shared storage (Redis) with a fallback to memory."""
    return bool(app.config.get("RATELIMIT_ENABLED", True)) and bool(
        app.config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED")
    )


def _fell_back(reason: str) -> None:
    if not _Outage.down:
        _Outage.down = True
        _Outage.last_probe = time.monotonic()
        log.warning(STORAGE_DOWN, reason)


def _came_back() -> None:
    if _Outage.down:
        _Outage.down = False
        log.info(STORAGE_BACK)


def _probe() -> bool:
    """Ask Redis whether it answers; on the answer, move this process back to it (or off it)."""
    _Outage.last_probe = time.monotonic()
    try:
        alive = bool(limiter.storage.check())
    except Exception:  # check() catches what it knows; anything else means "no" too
        alive = False
    # Flask-Limiter has no public switch; this flag is what its own (exponentially
    # slower) recovery check sets.
    limiter._storage_dead = not alive
    if alive:
        _came_back()
    else:
        _fell_back("no answer to a ping")
    return alive


def counted_in_memory() -> bool:
    """Whether this process counts limits in memory because Redis does not answer.

    Asks Redis (``/healthz`` calls this), so a process that served no limited
    request yet finds out too, and one in memory goes back as soon as Redis answers.
    """
    if not _storage_shared(current_app):
        return False
    return not _probe()


def _watch_storage(response: Response) -> Response:
    """Log the switch to memory once; ask Redis again every few seconds while in memory.

    Also makes ``Retry-After`` the number the 429's message gives (``errors.too_many_requests``):
    Flask-Limiter's own header, set just before, rounds a second down.
    """
    seconds = g.get("retry_after_seconds")
    if seconds is not None and response.status_code == 429:
        response.headers["Retry-After"] = str(seconds)
    if limiter._storage_dead:
        if not _Outage.down:
            _fell_back("a rate-limited request failed on it")
        elif time.monotonic() - _Outage.last_probe >= current_app.config["RATELIMIT_STORAGE_RECHECK"]:
            _probe()
    elif _Outage.down:
        _came_back()  # Flask-Limiter's own check found it
    return response


class _QuietFallbackWarning(logging.Filter):
    """Flask-Limiter's own warning for the same event; ``STORAGE_DOWN`` says it once, in words."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Rate limit storage unreachable")


def register(app: Flask) -> None:
    """Storage settings and the outage watch (call before ``limiter.init_app``).

    Registered before Flask-Limiter's own after-request hook, so that it runs after it.
    """
    if str(app.config.get("RATELIMIT_STORAGE_URI", "")).startswith(("redis://", "rediss://", "redis+")):
        # A Redis that accepts and never answers must not hold a request: count in memory.
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS",
            {"socket_connect_timeout": STORAGE_SOCKET_TIMEOUT, "socket_timeout": STORAGE_SOCKET_TIMEOUT},
        )
        app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    # Redis failing between the check and the count (after the view) must not turn an
    # answer into a 500; the next request's check notices and falls back.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_STORAGE_RECHECK", 2.0)
    limiter._storage_dead = False
    _Outage.down = False
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    quiet = logging.getLogger("flask-limiter")
    if not any(isinstance(f, _QuietFallbackWarning) for f in quiet.filters):
        quiet.addFilter(_QuietFallbackWarning())
    app.after_request(_watch_storage)
