"""Configuration from the environment."""

import pytest

from invites.config import load_config


@pytest.fixture
def clean_env(monkeypatch):
    for name in (
        "DATABASE_URL",
        "SECRET_KEY",
        "REDIS_URL",
        "RATELIMIT_ENABLED",
        "RATELIMIT_STORAGE_URI",
        "PUBLIC_URL",
        "INVITES_ENV",
        "MAIL_FROM",
        "TRUSTED_HOSTS",
        "DATABASE_CONNECT_TIMEOUT",
        "DATABASE_STATEMENT_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    # Email has its own tests below; the others start from the explicit console backend.
    monkeypatch.setenv("MAIL_URL", "console://")
    return monkeypatch


@pytest.fixture
def production_env(clean_env):
    """What production needs besides limits: a secret and the public address."""
    clean_env.setenv("SECRET_KEY", "s3cret")
    clean_env.setenv("PUBLIC_URL", "https://invites.example.com")
    return clean_env


def test_production_refuses_to_start_without_secret_key(clean_env, tmp_path):
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        load_config(str(tmp_path))


def test_production_refuses_to_count_rate_limits_in_one_process(production_env, tmp_path):
    with pytest.raises(RuntimeError, match="REDIS_URL is not set"):
        load_config(str(tmp_path))


@pytest.mark.parametrize(
    "env, storage",
    [
        ({"REDIS_URL": "redis://cache:6379/0"}, "redis://cache:6379/0"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "memory://"),
        ({"RATELIMIT_ENABLED": "false"}, "memory://"),
    ],
)
def test_production_rate_limit_storage_is_shared_or_chosen_explicitly(production_env, tmp_path, env, storage):
    for name, value in env.items():
        production_env.setenv(name, value)
    assert load_config(str(tmp_path))["RATELIMIT_STORAGE_URI"] == storage


def test_production_with_secret_key_uses_secure_cookies(production_env, tmp_path):
    production_env.setenv("REDIS_URL", "redis://cache:6379/0")
    config = load_config(str(tmp_path))
    assert config["SECRET_KEY"] == "s3cret"
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_development_generates_a_secret_once_and_keeps_it(clean_env, tmp_path):
    clean_env.setenv("INVITES_ENV", "development")
    first = load_config(str(tmp_path))
    second = load_config(str(tmp_path))
    assert len(first["SECRET_KEY"]) == 64
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert first["SESSION_COOKIE_SECURE"] is False


def test_default_database_is_sqlite_under_instance(clean_env, tmp_path):
    clean_env.setenv("INVITES_ENV", "development")
    assert load_config(str(tmp_path))["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'invites.sqlite3'}"


@pytest.mark.parametrize(
    "given, expected",
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_postgres_urls_use_psycopg3(clean_env, tmp_path, given, expected):
    clean_env.setenv("INVITES_ENV", "development")
    clean_env.setenv("DATABASE_URL", given)
    assert load_config(str(tmp_path))["SQLALCHEMY_DATABASE_URI"] == expected


def test_redis_rate_limit_and_public_url_settings(clean_env, tmp_path):
    clean_env.setenv("INVITES_ENV", "development")
    clean_env.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    clean_env.setenv("RATELIMIT_ENABLED", "false")
    clean_env.setenv("PUBLIC_URL", "https://invites.example/")
    config = load_config(str(tmp_path))
    assert config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert config["RATELIMIT_ENABLED"] is False
    assert config["PUBLIC_URL"] == "https://invites.example"


@pytest.mark.sqlite
def test_sqlite_connections_use_wal_and_wait_for_locks(app):
    from invites.extensions import db

    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# --- email (issue 11) ---------------------------------------------------------------


@pytest.fixture
def mail_env(production_env):
    """Production with everything but email settled."""
    production_env.setenv("REDIS_URL", "redis://cache:6379/0")
    return production_env


def test_production_refuses_to_start_without_mail_url(mail_env, tmp_path):
    mail_env.delenv("MAIL_URL")
    with pytest.raises(RuntimeError, match="MAIL_URL is not set"):
        load_config(str(tmp_path))


def test_production_with_smtp_needs_a_sender(mail_env, tmp_path):
    mail_env.setenv("MAIL_URL", "smtp+starttls://u:p@mail.example.com:587")
    with pytest.raises(RuntimeError, match="MAIL_FROM is not set"):
        load_config(str(tmp_path))
    mail_env.setenv("MAIL_FROM", "Invites <invites@example.com>")
    config = load_config(str(tmp_path))
    assert config["MAIL_URL"] == "smtp+starttls://u:p@mail.example.com:587"
    assert config["MAIL_FROM"] == "Invites <invites@example.com>"


def test_production_accepts_the_console_only_when_asked(mail_env, tmp_path):
    assert load_config(str(tmp_path))["MAIL_URL"] == "console://"


def test_development_prints_emails_without_any_setting(clean_env, tmp_path):
    clean_env.delenv("MAIL_URL")
    clean_env.setenv("INVITES_ENV", "development")
    assert load_config(str(tmp_path))["MAIL_URL"] is None


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://host:notaport"])
def test_a_mail_url_that_cannot_work_stops_the_start(clean_env, tmp_path, url):
    clean_env.setenv("INVITES_ENV", "development")
    clean_env.setenv("MAIL_URL", url)
    clean_env.setenv("MAIL_FROM", "x@example.com")
    with pytest.raises(RuntimeError, match="MAIL_URL"):
        load_config(str(tmp_path))


@pytest.mark.parametrize(
    "url, expected",
    [
        ("smtp://127.0.0.1:2525", ("smtp", "127.0.0.1", 2525, None, None)),
        (
            "smtp+starttls://me%40x.com:p%2Fw@mail.example.com:587",
            ("smtp+starttls", "mail.example.com", 587, "me@x.com", "p/w"),
        ),
        ("smtps://u:p@mail.example.com", ("smtps", "mail.example.com", 465, "u", "p")),
    ],
)
def test_mail_urls_are_read_whole(url, expected):
    from invites.mail import parse_mail_url

    s = parse_mail_url(url)
    assert (s.scheme, s.host, s.port, s.username, s.password) == expected


# --- issue 15: the public address and the hosts production answers to ---------------


def test_production_refuses_to_start_without_public_url(clean_env, tmp_path):
    clean_env.setenv("SECRET_KEY", "s3cret")
    clean_env.setenv("REDIS_URL", "redis://cache:6379/0")
    with pytest.raises(RuntimeError, match="PUBLIC_URL is not set"):
        load_config(str(tmp_path))


@pytest.mark.parametrize(
    "value", ["invites.example.com", "ftp://invites.example.com", "https://", "https://x.example/?a=1"]
)
def test_a_public_url_that_is_not_an_http_address_is_refused(clean_env, tmp_path, value):
    clean_env.setenv("INVITES_ENV", "development")
    clean_env.setenv("PUBLIC_URL", value)
    with pytest.raises(RuntimeError, match="PUBLIC_URL must be an http"):
        load_config(str(tmp_path))


def test_production_answers_only_to_public_urls_host_and_trusted_hosts(production_env, tmp_path):
    production_env.setenv("REDIS_URL", "redis://cache:6379/0")
    assert load_config(str(tmp_path))["TRUSTED_HOSTS"] == ["invites.example.com"]
    production_env.setenv("TRUSTED_HOSTS", "10.0.0.5, Health.Internal")
    assert load_config(str(tmp_path))["TRUSTED_HOSTS"] == ["invites.example.com", "10.0.0.5", "health.internal"]


def test_development_answers_to_any_host(clean_env, tmp_path):
    clean_env.setenv("INVITES_ENV", "development")
    assert load_config(str(tmp_path))["TRUSTED_HOSTS"] is None


@pytest.mark.parametrize("name", ["DATABASE_CONNECT_TIMEOUT", "DATABASE_STATEMENT_TIMEOUT"])
@pytest.mark.parametrize("value", ["0", "30", "soon"])
def test_database_timeouts_must_stay_below_the_worker_timeout(clean_env, tmp_path, name, value):
    clean_env.setenv("INVITES_ENV", "development")
    clean_env.setenv(name, value)
    with pytest.raises(RuntimeError, match=name):
        load_config(str(tmp_path))
