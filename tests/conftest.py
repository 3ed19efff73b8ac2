"""Shared fixtures: ``app``, ``client``, ``runner``, ``auth`` and data factories.

The suite runs on one database per pass: SQLite (a temporary file) by default,
PostgreSQL when ``TEST_DATABASE_URL`` is set. ``make test`` under ``CI=true``
runs both passes. Tests marked ``postgresql`` need the PostgreSQL pass: outside
CI they skip with the reason shown; under CI they are deselected from the
SQLite pass because the PostgreSQL pass runs them. Tests marked ``sqlite`` run
only in the SQLite pass. Tests marked ``redis`` use the Redis at
``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``): outside CI they skip
with the reason shown when it does not answer; under CI they run, and fail.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
import time_machine
from flask_migrate import upgrade

from invites import accounts, create_app
from invites.extensions import db
from invites.models import Company, Membership, Role, User, utcnow

from .clock import chosen_now, shift_database_clock
from .redis_server import own_redis  # noqa: F401  (a fixture: a Redis of the test's own)

CI = os.environ.get("CI", "").strip().lower() == "true"
# Production refuses to start without a mail server: apps and servers that the tests
# build from the environment print their emails instead, unless a test says otherwise.
os.environ.setdefault("MAIL_URL", "console://")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip() or None
BACKEND = "postgresql" if TEST_DATABASE_URL else "sqlite"
PASSWORD = "correct horse battery"
PG_HINT = "set TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "").strip() or "redis://127.0.0.1:6379/15"
# Flask-Limiter's keys in Redis: the storage's prefix, then the limiter's key_prefix.
REDIS_KEY_PATTERN = "LIMITS:LIMITER/invites/*"


def redis_unavailable() -> str | None:
    """Why the test Redis cannot be used, or None when it answers."""
    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"needs Redis at {TEST_REDIS_URL} ({exc}); start redis-server or set TEST_REDIS_URL"
    return None


TEST_NOW = chosen_now()


def pytest_report_header(config):
    lines = [f"database backend: {BACKEND}" + (f" ({TEST_DATABASE_URL})" if TEST_DATABASE_URL else "")]
    if TEST_NOW:
        lines.append(f"clock: INVITES_TEST_NOW={TEST_NOW.isoformat()} (Python and database clocks moved there)")
    return lines


@pytest.fixture(scope="session", autouse=True)
def suite_clock():
    """The whole session at ``INVITES_TEST_NOW`` when it is set (tests/clock.py), else today."""
    if TEST_NOW is None:
        yield None
        return
    offset = TEST_NOW - utcnow()
    shift_database_clock(offset)
    # Programs the suite starts (gunicorn) travel by the same offset: tests/clock_site.
    site = str(Path(__file__).resolve().parent / "clock_site")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [site, os.environ.get("PYTHONPATH")]))
    os.environ["INVITES_TEST_CLOCK_OFFSET"] = str(offset.total_seconds())
    with time_machine.travel(TEST_NOW, tick=True):
        yield TEST_NOW


# Tests marked ``slow`` (``make test-fast`` leaves them out; CI runs everything): the
# browser tests, those that start processes (forked accepts, two app instances, gunicorn,
# Redis limits across processes) and those on a 10,000-invitation company.
SLOW_MODULES = {"test_accept_concurrency", "test_gunicorn", "test_instances", "test_limits_redis", "test_indexes"}


def is_slow(item) -> bool:
    """Whether ``item`` is one of the slow kinds of test (see ``SLOW_MODULES``)."""
    module = item.module.__name__.rpartition(".")[2] if item.module else ""
    return (
        "browser" in item.keywords
        or module in SLOW_MODULES
        or "gunicorn" in item.name
        or "10000_invitations" in item.nodeid
    )


def pytest_collection_modifyitems(config, items):
    """Mark the slow tests; route backend-specific tests to their pass (see the module docstring)."""
    for item in items:
        if is_slow(item):
            item.add_marker(pytest.mark.slow)
    keep, dropped = [], []
    redis_reason = None
    if not CI and any("redis" in item.keywords for item in items):
        redis_reason = redis_unavailable()
    for item in items:
        if "redis" in item.keywords and redis_reason:
            item.add_marker(pytest.mark.skip(reason=redis_reason))
        if "postgresql" in item.keywords and BACKEND != "postgresql":
            if CI:
                dropped.append(item)
                continue
            item.add_marker(pytest.mark.skip(reason=f"needs PostgreSQL: {PG_HINT}"))
        if "sqlite" in item.keywords and BACKEND != "sqlite":
            dropped.append(item)
            continue
        keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def base_config(database_url: str) -> dict:
    """The configuration every test app starts from."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "INVITES_ENV": "development",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "REDIS_URL": None,
        "PUBLIC_URL": None,
        "SESSION_COOKIE_SECURE": False,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": False,
        "WTF_CSRF_TIME_LIMIT": None,
        "INVITATIONS_PER_PAGE": 50,
        # A cheap hash keeps user factories fast; production uses scrypt.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        # Emails are printed (captured by pytest) and delivered in-process after commit.
        "MAIL_URL": None,
        "MAIL_FROM": "Invites <invites@example.com>",
        "MAIL_QUEUE_URL": None,
    }


def reset_postgres_schema(url: str) -> None:
    """Drop everything in the test database: each pass starts on a clean schema."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {url} is unreachable: {exc.orig}", pytrace=False)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """A database migrated to head once per test session."""
    if BACKEND == "postgresql":
        url = TEST_DATABASE_URL
        reset_postgres_schema(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    app = create_app(base_config(url))
    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
        db.engine.dispose()
    return url


def _empty_all_tables() -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(t.name for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@contextmanager
def fresh_app(database_url: str, **overrides):
    """An app on the session's database with ``overrides``; its tables are emptied afterwards."""
    app = create_app({**base_config(database_url), **overrides})
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            _empty_all_tables()
            db.engine.dispose()


@pytest.fixture
def app(database_url):
    """A fresh app on the session's database, emptied after each test."""
    with fresh_app(database_url) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def app_ctx(app):
    """Run the test body inside an app context (for domain-level tests)."""
    with app.app_context():
        yield app


@dataclass
class Factory:
    """Creates users, companies and memberships through the domain layer."""

    app: object
    counter: int = 0

    def user(
        self,
        email: str | None = None,
        *,
        company: Company | None = None,
        role: Role = Role.MEMBER,
        name: str | None = None,
        verified: bool = True,
    ) -> User:
        """A user, with a verified address unless ``verified=False`` (like ``create-user``)."""
        with self.app.app_context():
            self.counter += 1
            email = email or f"user{self.counter}@example.com"
            user = accounts.create_account(
                email=email,
                password=PASSWORD,
                name=name or email.split("@")[0].title(),
                company=db.session.merge(company) if company else None,
                role=role,
                verified=verified,
            )
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    def company(self, name: str = "Acme", owner_email: str | None = None) -> tuple[Company, User]:
        """A company and its OWNER."""
        with self.app.app_context():
            owner = accounts.create_account(
                email=owner_email or f"owner-{name.lower().replace(' ', '-')}@example.com",
                password=PASSWORD,
                name=f"{name} Owner",
                company_name=name,
                verified=True,
            )
            company = db.session.execute(
                sa.select(Company).join(Membership).where(Membership.user_id == owner.id)
            ).scalar_one()
            db.session.refresh(owner)
            db.session.expunge_all()
            return company, owner


@pytest.fixture
def test_redis():
    """The test Redis, with Invites' rate-limit keys removed before and after."""
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {TEST_REDIS_URL} is unreachable: {exc}", pytrace=False)

    def clear():
        keys = list(client.scan_iter(REDIS_KEY_PATTERN))
        if keys:
            client.delete(*keys)

    clear()
    yield client
    clear()


@pytest.fixture
def make(app) -> Factory:
    return Factory(app)


class AuthActions:
    """Log users in and out through the real pages."""

    def __init__(self, client):
        self._client = client

    def login(self, email: str, password: str = PASSWORD, **kwargs):
        return self._client.post("/login", data={"email": email, "password": password}, **kwargs)

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


def age_audit_trail(app, seconds: int = 60) -> None:
    """Move every audit row into the past, beyond live usage's re-sent window (``audit.RECENT``)."""
    from datetime import timedelta

    from invites.models import AuditEvent

    with app.app_context():
        rows = db.session.execute(sa.select(AuditEvent.id, AuditEvent.created_at)).all()
        for row in rows:
            db.session.execute(
                sa.update(AuditEvent)
                .where(AuditEvent.id == row.id)
                .values(created_at=row.created_at - timedelta(seconds=seconds))
            )
        db.session.commit()
