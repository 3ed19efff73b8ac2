"""Operations: the health check, and one log line per request with no secret in it."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Flask, Response, g, jsonify, request
from flask.logging import default_handler
from sqlalchemy import text

from . import limits
from .extensions import db, limiter
from .masking import mask_codes, scrub

bp = Blueprint("operations", __name__)

#: One INFO line per request: ``GET /invite/Zx81… 200 12.3ms``.
request_log = logging.getLogger("invites.request")
log = logging.getLogger(__name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    """200 ``{"status": "ok"}`` when the database answers a trivial query, else 503.

    200 ``{"status": "degraded", "rateLimits": "memory"}`` when the database answers
    but Redis does not: this process counts rate limits in its own memory.
    The database's connect timeout bounds the wait (``invites.DATABASE_CONNECT_TIMEOUT``).
    """
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # whatever the database did, the answer is "not healthy"
        try:
            db.session.rollback()
        except Exception:  # a connection that never opened has nothing to roll back
            pass
        log.warning("Health check failed: the database did not answer (%s)", type(exc).__name__)
        return jsonify(status="unavailable"), 503
    if limits.counted_in_memory():
        return jsonify(status="degraded", rateLimits="memory")
    return jsonify(status="ok")


class CodeMaskingFilter(logging.Filter):
    """Rewrites a log record with every invitation code masked, traceback included.

    A traceback is formatted here, scrubbed, and made part of the message, since
    handlers would otherwise format the exception (and any value a database
    error quotes) after every filter has run.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, None
        scrubbed = scrub(message)
        if scrubbed != record.getMessage():
            record.msg, record.args = scrubbed, None
        return True


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    """Method, path (codes masked; no query string, no body), status, duration."""
    started = g.get("request_started")
    duration = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    # Load balancers ask for /healthz every few seconds; keep them out of INFO.
    level = logging.DEBUG if request.path == "/healthz" else logging.INFO
    request_log.log(
        level,
        "%s %s %s %.1fms",
        request.method,
        mask_codes(request.path),
        response.status_code,
        duration,
    )
    return response


def _add_filter_once(target: logging.Filterer) -> None:
    if not any(isinstance(f, CodeMaskingFilter) for f in target.filters):
        target.addFilter(CodeMaskingFilter())


def register(app: Flask) -> None:
    """Install the health check and the request log (call before other extensions)."""
    app.register_blueprint(bp)
    app.before_request(_start_timer)
    app.after_request(_log_request)
    # ``app.logger`` is created on first use, with Flask's handler to stderr (or
    # gunicorn's error log); the request log propagates to it.
    app.logger  # noqa: B018
    if request_log.level == logging.NOTSET:
        request_log.setLevel(logging.INFO)
    # The development server's own request lines, the app's messages, and
    # Flask's handler, which also sees what the app's child loggers propagate.
    _add_filter_once(logging.getLogger("werkzeug"))
    _add_filter_once(app.logger)
    _add_filter_once(request_log)
    _add_filter_once(default_handler)
