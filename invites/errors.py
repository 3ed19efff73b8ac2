"""Error pages: finished HTML for people, JSON under ``/api``."""
from __future__ import annotations

import math
import time

from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException

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
}

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


def error_response(code: int, message: str | None = None):
    """The error page (or JSON body) for ``code``."""
    message = message or MESSAGES.get(code, "Something went wrong.")
    if wants_json():
        return make_response(jsonify(error=message), code)
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
    return max(1, math.ceil(current.reset_at - time.time()))


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
        # Flask-Limiter's after-request hook sets it as well; this one does not
        # depend on its header settings.
        response.headers["Retry-After"] = str(seconds)
    return response


def register(app: Flask) -> None:
    """Install the handlers."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        """Any 4xx/5xx: our page or JSON, keeping headers such as Allow and Retry-After."""
        code = exc.code or 500
        if code >= 500:
            db.session.rollback()
        if isinstance(exc, RateLimitExceeded):
            response = too_many_requests(exc)
        else:
            response = error_response(code)
        for name, value in exc.get_response().headers.items():
            if name.lower() not in {"content-type", "content-length"}:
                response.headers.setdefault(name, value)
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        """A form without a valid CSRF token: usually a stale page."""
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        """A bug: roll back what the request left in the session, log it, apologise."""
        db.session.rollback()
        app.logger.exception("Unhandled error on %s %s", request.method, mask_codes(request.path))
        return error_response(500)
