"""Error pages: finished HTML for people, JSON under ``/api``."""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, current_app, g, jsonify, make_response, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import OperationalError, TimeoutError as PoolTimeout
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest, HTTPException, SecurityError

from .extensions import db, limiter
from .masking import mask_codes

MESSAGES = {
    400: "The request could not be understood.",
    401: "Log in to continue.",
    403: "You do not have access to this page.",
    404: "This page does not exist.",
    405: "This method is not allowed here.",
    413: "The request is too large.",
    422: "Some of what you sent needs fixing.",
    429: "Too many requests. Wait a moment and try again.",
    500: "Something went wrong on our side. Try again in a moment.",
    503: "The service is temporarily unavailable",
}

#: Seconds a client is asked to wait when the database does not answer (``Retry-After``).
UNAVAILABLE_RETRY_AFTER = 5

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

log = logging.getLogger(__name__)

CSRF_MESSAGE = "This form has expired or did not come from this site. Reload the page and try again."

# The page when even error.html cannot be rendered (say the database is down and
# base.html asks it for the signed-in user's companies): no layout, no queries.
_BARE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{code} · Invites</title>
<link rel="stylesheet" href="/static/vendor/pico-2.1.1/pico.min.css"></head>
<body><main class="container"><h1>{code}</h1><p>{message}</p>
<p><a href="/">Back to Invites</a></p></main></body></html>"""


def wants_json() -> bool:
    """API clients get JSON errors; browsers get pages."""
    return request.path == "/api" or request.path.startswith("/api/")


def error_response(code: int, message: str | None = None, *, bare: bool = False):
    """The error page (or JSON body) for ``code``.

    ``bare``: the page without the layout, which asks the database for the
    signed-in user and their companies (for when the database is the problem).
    """
    message = message or MESSAGES.get(code, "Something went wrong.")
    if wants_json():
        return make_response(jsonify(error=message), code)
    if bare:
        return make_response(_BARE_PAGE.format(code=code, message=escape(message)), code)
    try:
        body = render_template("error.html", code=code, message=message)
    except Exception:
        db.session.rollback()
        current_app.logger.exception("Could not render the error page for %s %s", code, mask_codes(request.path))
        body = _BARE_PAGE.format(code=code, message=escape(message))
    return make_response(body, code)


def retry_after_seconds() -> int | None:
    """Seconds until the limit this request broke lets it through again."""
    current = limiter.current_limit
    if current is None or not current.breached:
        return None
    # Whole seconds as Flask-Limiter counts them (its reset times are already rounded up).
    return max(1, int(current.reset_at - time.time()))


def _wait_phrase(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def too_many_requests(exc: RateLimitExceeded):
    """429: which limit (its own message), when to come back, and ``Retry-After``."""
    seconds = retry_after_seconds()
    if exc.limit.error_message and seconds:
        message = f"{exc.description} Try again in {_wait_phrase(seconds)}."
    elif exc.limit.error_message:
        message = f"{exc.description} Wait a moment and try again."
    else:
        message = MESSAGES[429]
    response = error_response(429, message)
    if seconds:
        # Flask-Limiter's after-request hook sets it as well, a second lower at times;
        # ``limits`` puts this number back after it, so the header and the message agree.
        response.headers["Retry-After"] = str(seconds)
        g.retry_after_seconds = seconds
    return response


def database_unavailable(exc: Exception):
    """503 when the database does not answer in time (connect or statement timeout, lock wait).

    One WARNING line, no traceback: an outage is not a bug, and every request during it
    would repeat the same trace. The page is the bare one: the layout asks the database.
    """
    try:
        db.session.rollback()
    except Exception:  # the connection may be gone; the session is discarded at teardown
        pass
    log.warning("Database unavailable on %s %s (%s)", request.method, mask_codes(request.path), type(exc).__name__)
    response = error_response(503, bare=True)
    response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    return response


def refuse_unreadable_json():
    """Pages read JSON bodies as forms (Flask-WTF): anything but a JSON object of text is a 400.

    A list, a string or JSON nested thousands deep cannot be a form; nor can an object
    with a number, a boolean, a list or an object for a field (a form sends text):
    Flask-WTF would fail on them with a 500, or a list would count as a field sent
    several times. Flask-WTF reads uploaded files as fields too, and no page takes a
    file: a form with one is a 400 as well. The API reads its bodies itself
    (``api.schemas.json_object``).
    """
    if request.method in SAFE_METHODS or wants_json():
        return None
    if request.mimetype == "multipart/form-data" and request.files:
        raise BadRequest()
    if not request.is_json:
        return None
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not all(isinstance(value, str) for value in body.values()):
        raise BadRequest()
    return None


def _without_body() -> None:
    """Let templates read ``request.form`` of a request whose body was refused (413): empty."""
    request.form = ImmutableMultiDict()
    request.files = ImmutableMultiDict()


def register(app: Flask) -> None:
    """Install the handlers."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        """Any 4xx/5xx: our page or JSON, keeping headers such as Allow and Retry-After."""
        code = exc.code or 500
        if code >= 500:
            db.session.rollback()
        if code == 413:
            _without_body()
        if isinstance(exc, RateLimitExceeded):
            response = too_many_requests(exc)
        else:
            # An untrusted Host (TRUSTED_HOSTS) leaves no URL adapter to build the layout's links.
            response = error_response(code, bare=isinstance(exc, SecurityError))
        for name, value in exc.get_response().headers.items():
            if name.lower() not in {"content-type", "content-length"}:
                response.headers.setdefault(name, value)
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        """A form without a valid CSRF token: usually a stale page."""
        return error_response(400, CSRF_MESSAGE)

    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(PoolTimeout, database_unavailable)
    app.before_request(refuse_unreadable_json)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        """A bug: roll back what the request left in the session, log it, apologise."""
        db.session.rollback()
        app.logger.exception("Unhandled error on %s %s", request.method, mask_codes(request.path))
        return error_response(500)
