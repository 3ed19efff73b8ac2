"""Error pages: finished HTML for people, JSON under ``/api``."""
from __future__ import annotations

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .extensions import db

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


def wants_json() -> bool:
    """API clients get JSON errors; browsers get pages."""
    return request.path.startswith("/api/")


def error_response(code: int, message: str | None = None):
    """The error page (or JSON body) for ``code``."""
    message = message or MESSAGES.get(code, "Something went wrong.")
    if wants_json():
        return make_response(jsonify(error=message), code)
    return make_response(render_template("error.html", code=code, message=message), code)


def register(app: Flask) -> None:
    """Install the handlers."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        """Any 4xx/5xx: our page or JSON, keeping headers such as Allow and Retry-After."""
        code = exc.code or 500
        if code >= 500:
            db.session.rollback()
        response = error_response(code)
        for name, value in exc.get_response().headers.items():
            if name.lower() not in {"content-type", "content-length"}:
                response.headers[name] = value
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        """A form without a valid CSRF token: usually a stale page."""
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        """A bug: roll back what the request left in the session, log it, apologise."""
        db.session.rollback()
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500)
