"""Invites: companies hand out invitation codes and links; people join through them."""

from __future__ import annotations

import sqlite3

from flask import Flask, render_template
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from . import (
    api,
    audit,
    auth,
    cli,
    companies,
    dashboard,
    errors,
    formatting,
    invitations,
    invite_links,
    limits,
    links,
    operations,
    security,
    sessions,
)
from .config import load_config
from .extensions import csrf, db, limiter, login_manager, migrate
from .masking import short_code
from .tenancy import current_membership


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with bodies nested too deep to parse refused like any malformed JSON.

    Python's parser raises ``RecursionError`` for ``[[[…`` a few thousand deep;
    ``request.get_json`` only turns ``ValueError`` into a 400 (or ``None`` when silent).
    """

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


#: Seconds: below gunicorn's worker timeout (30), so a silent database costs an
#: answer (503), never a killed worker. Override with DATABASE_CONNECT_TIMEOUT and
#: DATABASE_STATEMENT_TIMEOUT (see ``config.py``).
DATABASE_CONNECT_TIMEOUT = 3
DATABASE_STATEMENT_TIMEOUT = 10


def _database_timeouts(app: Flask, engine_options: dict) -> None:
    """Bound every wait on the database: connecting, each statement, a lock (SQLite)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    connect = app.config.setdefault("DATABASE_CONNECT_TIMEOUT", DATABASE_CONNECT_TIMEOUT)
    statement = app.config.setdefault("DATABASE_STATEMENT_TIMEOUT", DATABASE_STATEMENT_TIMEOUT)
    if url.startswith("sqlite"):
        # Concurrent writers wait for the lock (busy timeout) instead of failing at once,
        # but not for longer than a statement may take.
        engine_options.setdefault("connect_args", {"timeout": statement})
    elif url.startswith("postgresql"):
        # connect_timeout: a server that accepts and never answers; statement_timeout: a
        # query (or its wait for a lock) that would outlast the worker. Migrations lift it.
        engine_options.setdefault(
            "connect_args",
            {"connect_timeout": connect, "options": f"-c statement_timeout={int(statement * 1000)}"},
        )
        # A pool whose connections are all in use waits no longer than a connect would.
        engine_options.setdefault("pool_timeout", connect)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults and environment, then ``test_config`` on top."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    app.json = JSONProvider(app)
    app.session_interface = sessions.SessionInterface()
    app.config.update(
        PASSWORD_HASH_METHOD="scrypt",
        # Forms and JSON bodies are small; anything larger is refused with 413.
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    if test_config is None or "SECRET_KEY" not in test_config:
        app.config.update(load_config(app.instance_path))
    if test_config is not None:
        app.config.update(test_config)
    engine_options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    # Database errors name the statement, not its values: no code, email or
    # password hash ends up in a log through an exception message.
    engine_options.setdefault("hide_parameters", True)
    _database_timeouts(app, engine_options)
    proxies = app.config.get("TRUSTED_PROXIES", 0)
    if proxies:
        # The client's address (rate limits) and scheme (HTTPS referrer check,
        # Secure cookies, absolute links) as the trusted proxies saw them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals["url_for"] = links.fixed_url_for
    app.context_processor(lambda: {"current_membership": current_membership})
    app.add_template_filter(audit.action_label)
    # The one way screens shorten a code (the card, the activity page, labels).
    app.add_template_filter(short_code)
    app.add_template_filter(formatting.day)
    app.add_template_filter(formatting.moment)
    app.add_template_filter(formatting.people)

    # First, so that its request log sees every request, including refused ones.
    operations.register(app)
    security.register(app)
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True)
    csrf.init_app(app)
    security.serve_csrf_token(app)
    login_manager.init_app(app)
    limits.register(app)
    limiter.init_app(app)

    app.register_blueprint(auth.bp)
    app.register_blueprint(companies.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(invite_links.bp)
    app.register_blueprint(api.bp)
    errors.register(app)
    cli.register(app)

    @app.get("/")
    def index():
        """The landing page: what Invites is, or where a signed-in user goes next."""
        return render_template("index.html")

    return app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """SQLite: WAL so readers never wait for a writer, and foreign keys enforced; the search's
    lower() of every letter (``invitations.any_case``).

    The busy timeout is the driver's ``timeout`` (``_database_timeouts``).
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        dbapi_connection.create_function(invitations.SQLITE_LOWER, 1, invitations.sqlite_lower, deterministic=True)
